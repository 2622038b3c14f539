# Shared by the shell tests and benchmarks: start a throwaway bimd and clean up after it.
# Source it, then:
#   bimd_start WORK BUILD ROOT   starts bimd with data in WORK/data, log in WORK/bimd.log, on free
#                                loopback ports; sets API_PORT HTTP_PORT BIMD_PID BIM_SERVER BIM_TOKEN
#                                INSTANCE (BIM_SERVER/BIM_TOKEN exported). Extra bimd flags: BIMD_FLAGS.
#   bimd_cleanup                 stops bimd and its nginx, removes what it put on the host (`bimd
#                                --teardown`: containers, images, networks, firewall rules), deletes WORK.
#   free_port                    prints a loopback port nothing listens on.
#   naive_nginx_start DIR PORT UPSTREAM_PORT
#                                the benches' baseline: a plain nginx (config, pid and logs in DIR)
#                                listening on 127.0.0.1:PORT and proxying to 127.0.0.1:UPSTREAM_PORT;
#                                `naive_nginx_reload DIR` reloads it, `naive_nginx_stop DIR` stops it.

# Below the kernel's ephemeral range (32768+), so no outgoing connection takes it before it is bound.
free_port() {
  local p
  while :; do
    p=$(shuf -i 20000-32767 -n 1)
    (echo >"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}

naive_nginx_start() {
  local dir=$1
  mkdir -p "$dir/logs"
  cat >"$dir/nginx.conf" <<NGINX
pid $dir/nginx.pid;
error_log $dir/logs/error.log;
events {}
http {
  access_log off;
  client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp;
  fastcgi_temp_path $dir/tmp; uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
  server { listen 127.0.0.1:$2; location / { proxy_pass http://127.0.0.1:$3; } }
}
NGINX
  nginx -p "$dir/" -c "$dir/nginx.conf" -e "$dir/logs/error.log"
}
naive_nginx_reload() { nginx -p "$1/" -c "$1/nginx.conf" -e "$1/logs/error.log" -s reload; }
naive_nginx_stop() { [ -f "$1/nginx.pid" ] && kill -QUIT "$(cat "$1/nginx.pid")" 2>/dev/null || true; }

bimd_start() {
  BIMD_WORK=$1
  local build=$2 root=$3
  BIMD_BIN="$build/bimd"
  BIMD_TEMPLATES="$root/templates/nginx"
  API_PORT=$(free_port)
  HTTP_PORT=$(free_port)
  INSTANCE=""
  # shellcheck disable=SC2086
  "$build/bimd" --data-dir "$BIMD_WORK/data" --listen "127.0.0.1:$API_PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
    --domain localhost --templates "$root/templates/nginx" ${BIMD_FLAGS:-} >"$BIMD_WORK/bimd.log" 2>&1 &
  BIMD_PID=$!
  for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$API_PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
  if [ ! -s "$BIMD_WORK/data/admin.token" ]; then
    echo "bimd did not start; its log:" >&2
    cat "$BIMD_WORK/bimd.log" >&2
    return 1
  fi
  export BIM_SERVER="http://127.0.0.1:$API_PORT"
  BIM_TOKEN=$(cat "$BIMD_WORK/data/admin.token")
  export BIM_TOKEN
  INSTANCE=$("$build/bim" server --json | sed -n 's/.*"instance": "\([0-9a-f]*\)".*/\1/p')
  [ -n "$INSTANCE" ] || { echo "bim server --json did not report the instance" >&2; return 1; }
}

# Removes containers and images carrying label $1 (key=value) through the Engine API.
docker_remove_labelled() {
  local filter id
  filter=$(printf '{"label":["%s"]}' "$1")
  for id in $(curl -s --unix-socket /var/run/docker.sock -G "http://localhost/v1.41/containers/json" \
                --data-urlencode all=1 --data-urlencode "filters=$filter" | grep -o '"Id":"[0-9a-f]*"' | cut -d'"' -f4); do
    curl -s --unix-socket /var/run/docker.sock -X DELETE "http://localhost/v1.41/containers/$id?force=1" >/dev/null
  done
  for id in $(curl -s --unix-socket /var/run/docker.sock -G "http://localhost/v1.41/images/json" \
                --data-urlencode "filters=$filter" | grep -o '"Id":"sha256:[0-9a-f]*"' | cut -d'"' -f4); do
    curl -s --unix-socket /var/run/docker.sock -X DELETE "http://localhost/v1.41/images/$id?force=1" >/dev/null
  done
}

bimd_cleanup() {
  [ -n "${BIMD_PID:-}" ] && kill "$BIMD_PID" 2>/dev/null && wait "$BIMD_PID" 2>/dev/null || true
  if [ -f "$BIMD_WORK/data/nginx/nginx.pid" ]; then kill -QUIT "$(cat "$BIMD_WORK/data/nginx/nginx.pid")" 2>/dev/null || true; fi
  if [ -n "${INSTANCE:-}" ] && [ -d "$BIMD_WORK/data" ]; then
    "$BIMD_BIN" --data-dir "$BIMD_WORK/data" --templates "$BIMD_TEMPLATES" --teardown >/dev/null 2>&1 || true
  fi
  [ -n "${INSTANCE:-}" ] && docker_remove_labelled "im.backend.bim.instance=$INSTANCE"
  rm -rf "$BIMD_WORK"
}
