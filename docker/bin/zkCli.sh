#!/bin/sh
# zkCli.sh of the corral image: corral's native zkCli, with Apache zkCli's arguments
# (-server host:port[,host:port...], -timeout ms, -r, a command after the options) and
# output. Without -server it connects to localhost:2181, as Apache's does.
exec corral cli "$@"
