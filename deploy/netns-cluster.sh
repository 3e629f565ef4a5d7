#!/usr/bin/env bash
# Several hosts on one machine: network namespaces joined through a bridge, with shaped links.
#
#   deploy/netns-cluster.sh up NAME WORKERS [RATE] [DELAY]   e.g. up cal 3 1gbit 0.2ms (DELAY needs sch_netem)
#   deploy/netns-cluster.sh exec NAME HOST COMMAND...        HOST: c (the coordinator) or 1..WORKERS
#   deploy/netns-cluster.sh address NAME HOST                prints HOST's IPv4 address
#   deploy/netns-cluster.sh down NAME                        removes everything `up` made
#
# Layout: a switch namespace NAME-sw holds the bridge; the coordinator's host NAME-c and worker
# hosts NAME-1 … NAME-N each have a veth pair whose other end is a bridge port. Every host's own
# end sends through netem (RATE, DELAY) and every bridge port sends towards its host through tbf
# (RATE): each direction of each link is limited to RATE, each one-way trip delayed by DELAY, and
# the coordinator's one link is shared by all its workers, as a real NIC is. Addresses 10.NET.0.1
# (coordinator) and 10.NET.0.(10+i) (worker i), NET from NAME so two clusters do not collide.
# Traffic stays inside these namespaces: the root namespace gets no interface or route.
# Needs root and iproute2 (ip, tc with sch_netem and sch_tbf).
set -euo pipefail

usage() { sed -n '2,7p' "$0" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
command=$1 name=$2
shift 2
[[ $name =~ ^[a-z][a-z0-9]{0,5}$ ]] || { echo "netns-cluster: NAME must be 1-6 lower-case letters or digits, starting with a letter: $name" >&2; exit 2; }
# 10.NET.0.0/24 with NET in 100..227, from the name's checksum.
net=$(( 100 + $(printf '%s' "$name" | cksum | cut -d' ' -f1) % 128 ))

host_namespace() { if [[ $1 == c ]]; then echo "$name-c"; else echo "$name-$1"; fi; }
host_address() { if [[ $1 == c ]]; then echo "10.$net.0.1"; else echo "10.$net.0.$((10 + $1))"; fi; }

case $command in
up)
    [[ $# -ge 1 ]] || usage
    workers=$1 rate=${2:-1gbit} delay=${3:-0.2ms}
    [[ $workers =~ ^[1-9][0-9]?$ ]] || { echo "netns-cluster: WORKERS must be 1-99: $workers" >&2; exit 2; }
    if ip netns list | grep -q "^$name-sw\b"; then echo "netns-cluster: $name is up already (down $name first)" >&2; exit 1; fi
    trap 'echo "netns-cluster: up failed; removing what was made" >&2; "$0" down "$name" || true' ERR
    ip netns add "$name-sw"
    # netem (delay) is a kernel module some kernels lack (a Firecracker VM's, for one): then the
    # links are rate-limited only, and `up` says so.
    netem=yes
    if ip netns exec "$name-sw" tc qdisc add dev br0 root netem delay "$delay" 2>/dev/null; then
        ip netns exec "$name-sw" tc qdisc del dev br0 root
    else
        netem=no
    fi
    ip -n "$name-sw" link add br0 type bridge
    ip -n "$name-sw" link set br0 up
    ip -n "$name-sw" link set lo up
    for host in c $(seq 1 "$workers"); do
        namespace=$(host_namespace "$host")
        ip netns add "$namespace"
        # Both ends are made in the host's namespace (so nothing appears in the root one), then
        # one is moved to the switch.
        ip -n "$namespace" link add eth0 type veth peer name "p$host"
        ip -n "$namespace" link set "p$host" netns "$name-sw"
        ip -n "$name-sw" link set "p$host" master br0
        ip -n "$name-sw" link set "p$host" up
        ip -n "$namespace" addr add "$(host_address "$host")/24" dev eth0
        ip -n "$namespace" link set eth0 up
        ip -n "$namespace" link set lo up
        # limit: packets netem may hold (rate × delay plus queueing); tbf's latency bounds its queue.
        if [[ $netem == yes ]]; then
            ip netns exec "$namespace" tc qdisc add dev eth0 root netem rate "$rate" delay "$delay" limit 100000
        else
            ip netns exec "$namespace" tc qdisc add dev eth0 root tbf rate "$rate" burst 256kb latency 100ms
        fi
        ip netns exec "$name-sw" tc qdisc add dev "p$host" root tbf rate "$rate" burst 256kb latency 100ms
    done
    echo "netns-cluster $name: coordinator $(host_address c), workers $(for i in $(seq 1 "$workers"); do printf '%s ' "$(host_address "$i")"; done)($rate$([[ $netem == yes ]] && echo ", $delay each way" || echo "; no delay: this kernel has no sch_netem"))"
    ;;
exec)
    [[ $# -ge 2 ]] || usage
    host=$1
    shift
    exec ip netns exec "$(host_namespace "$host")" "$@"
    ;;
address)
    [[ $# -ge 1 ]] || usage
    host_address "$1"
    ;;
down)
    # Hosts first: a namespace goes once its last process has, so the processes started in it
    # are killed, then the namespace (and with it the veth pair) is deleted.
    for namespace in $(ip netns list | awk '{print $1}' | grep -E "^$name-(c|[0-9]+|sw)$" || true); do
        for pid in $(ip netns pids "$namespace" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    done
    for namespace in $(ip netns list | awk '{print $1}' | grep -E "^$name-(c|[0-9]+|sw)$" || true); do
        for _ in $(seq 50); do [[ -z $(ip netns pids "$namespace" 2>/dev/null) ]] && break; sleep 0.1; done
        ip netns del "$namespace"
    done
    ;;
*) usage ;;
esac
