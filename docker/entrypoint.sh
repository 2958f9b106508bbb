#!/bin/sh
# /docker-entrypoint.sh of the corral image: configures the server from ZOO_* variables as
# the official `zookeeper` image does, so that a compose file written for that image runs
# corral with only the image name changed.
#
# - Started as root to run zkServer.sh (the image's CMD): hands /data, /datalog and /logs to
#   the zookeeper user (bind mounts arrive owned by whoever made them) and runs itself again
#   as that user. Started with `--user`, it skips this.
# - Writes $ZOO_CONF_DIR/zoo.cfg from the ZOO_* variables only when that file does not exist:
#   a mounted /conf/zoo.cfg wins, and so does the file written by an earlier start.
# - Writes $ZOO_DATA_DIR/myid (ZOO_MY_ID, default 1) only when it does not exist.
# - Then runs its arguments (zkServer.sh start-foreground, or any command given instead).
set -e

if [ "$1" = zkServer.sh ] && [ "$(id -u)" = 0 ]; then
    chown -R zookeeper:zookeeper "$ZOO_DATA_DIR" "$ZOO_DATA_LOG_DIR" "$ZOO_LOG_DIR"
    # su keeps the environment (-p) and passes the arguments through untouched as "$@".
    # shellcheck disable=SC2016 # expanded by the shell su starts
    exec su -p -s /bin/sh zookeeper -c 'exec "$0" "$@"' "$0" "$@"
fi

config=$ZOO_CONF_DIR/zoo.cfg
if [ ! -f "$config" ]; then
    {
        echo "dataDir=$ZOO_DATA_DIR"
        echo "dataLogDir=$ZOO_DATA_LOG_DIR"
        echo "tickTime=$ZOO_TICK_TIME"
        echo "initLimit=$ZOO_INIT_LIMIT"
        echo "syncLimit=$ZOO_SYNC_LIMIT"
        echo "autopurge.snapRetainCount=$ZOO_AUTOPURGE_SNAPRETAINCOUNT"
        echo "autopurge.purgeInterval=$ZOO_AUTOPURGE_PURGEINTERVAL"
        echo "maxClientCnxns=$ZOO_MAX_CLIENT_CNXNS"
        echo "standaloneEnabled=$ZOO_STANDALONE_ENABLED"
        echo "admin.enableServer=$ZOO_ADMINSERVER_ENABLED"
        # One server line per word; with none, a single member whose client port is 2181.
        # shellcheck disable=SC2086 # the lists are split on white space on purpose
        for server in ${ZOO_SERVERS:-server.1=localhost:2888:3888;2181}; do
            echo "$server"
        done
        if [ -n "$ZOO_4LW_COMMANDS_WHITELIST" ]; then
            echo "4lw.commands.whitelist=$ZOO_4LW_COMMANDS_WHITELIST"
        fi
        # shellcheck disable=SC2086
        for entry in $ZOO_CFG_EXTRA; do
            echo "$entry"
        done
    } >"$config.tmp"
    mv "$config.tmp" "$config"
fi

if [ ! -f "$ZOO_DATA_DIR/myid" ]; then
    echo "${ZOO_MY_ID:-1}" >"$ZOO_DATA_DIR/myid"
fi

exec "$@"
