#!/bin/sh
# zkServer.sh of the corral image, the commands of Apache ZooKeeper's script that make sense
# in a container:
#
#   zkServer.sh start-foreground [CONFIG]   run corral on CONFIG in the foreground
#   zkServer.sh status [CONFIG]             the server's Mode (srvr on its client port);
#                                           exit 1 when it does not answer
#   zkServer.sh print-cmd [CONFIG]          the command start-foreground runs
#   zkServer.sh version                     corral's version
#
# CONFIG defaults to $ZOOCFGDIR/zoo.cfg ($ZOOCFGDIR defaults to /conf), as in ZooKeeper.
cmd=${1:-}
config=${2:-${ZOOCFGDIR:-/conf}/${ZOOCFG:-zoo.cfg}}

# client_port CONFIG - the client port: clientPort=, else the ";[host:]port" of this
# member's server.N line (the form ZOO_SERVERS uses), else 2181.
client_port() {
    myid=$(sed -n 's/^dataDir=//p' "$1" | tail -n 1)
    myid=$(cat "$myid/myid" 2>/dev/null || true)
    awk -F= -v me="server.$myid" '
        /^clientPort=/ { port = $2 }
        $1 == me && index($2, ";") { line = substr($2, index($2, ";") + 1); sub(/.*:/, "", line) }
        END { if (port == "") port = line; if (port == "") port = 2181; print port }
    ' "$1"
}

case $cmd in
start-foreground)
    echo "Using config: $config" >&2
    exec corral serve --config "$config"
    ;;
status)
    echo "Using config: $config" >&2
    port=$(client_port "$config")
    echo "Client port found: $port. Client address: localhost." >&2
    mode=$(printf srvr | nc -w 3 127.0.0.1 "$port" 2>/dev/null | sed -n 's/^Mode: //p')
    if [ -z "$mode" ]; then
        echo "Error contacting service. It is probably not running." >&2
        exit 1
    fi
    echo "Mode: $mode"
    ;;
print-cmd)
    echo "corral serve --config \"$config\""
    ;;
version)
    exec corral --version
    ;;
*)
    echo "Usage: $0 {start-foreground|status|print-cmd|version} [CONFIG]" >&2
    exit 1
    ;;
esac
