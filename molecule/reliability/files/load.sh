#!/bin/sh
# One load client: opens a new connection to URL without pause, one curl per
# request, until MAX requests, SECONDS seconds or the file LOG.stop appears.
# Each line of LOG: start and end time (epoch seconds) and the HTTP code (000
# when the connection failed or timed out after 2 s).
url=$1 max=$2 seconds=$3 log=$4
end=$(($(date +%s) + seconds))
count=0
: > "$log"
while [ "$count" -lt "$max" ] && [ "$(date +%s)" -lt "$end" ] && [ ! -e "$log.stop" ]; do
  start=$(date +%s.%N)
  code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url")
  echo "$start $(date +%s.%N) ${code:-000}" >> "$log"
  count=$((count + 1))
done
