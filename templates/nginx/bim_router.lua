-- bim_router: routing as data for bimd's nginx. bimd copies this file next to nginx.conf; it is bim's
-- mechanism rather than a template to customise (customise app.conf.mustache and nginx.conf.mustache).
--
-- Three shared dicts, seen by every worker of every generation (they survive reloads):
--   bim_hosts     host name -> route key          (which app a request is for: the sites)
--   bim_routes    route key -> "host:port ..."    (which backends serve it: the routes)
--   bim_inflight  "host:port" -> requests in flight to that backend right now
--   bim_certs     certificate or key file path -> its PEM (HTTPS only; the workers run as another
--                 user and cannot read bimd's 0600 files, so bimd and the master load them)
-- The one server every app is served by (app.conf.mustache) calls access() to find the request's
-- route and proxies to the one upstream, bim_backends, whose balancer picks one of its backends.
-- bimd changes hosts and routes through the control server on a unix socket inside its data dir (see
-- control below), and persists them in <prefix>/sites/ and <prefix>/routes/ first; init reads those
-- when nginx starts, before it accepts a connection.
local balancer = require "ngx.balancer"

local hosts = ngx.shared.bim_hosts
local routes = ngx.shared.bim_routes
local inflight = ngx.shared.bim_inflight
local certs = ngx.shared.bim_certs  -- with HTTPS only: file path -> PEM (certificate chain or key)

local M = {}

-- Per worker: the parsed backends of each route (re-parsed when the dict's value changes), and the
-- round-robin position of each route.
local parsed = {}
local turn = {}

-- "host:port host:port ~host:port": the route's backends, and (marked "~") its standbys, which get a
-- request only after every backend failed to take it (see balance).
local function parse(raw)
  local list, standby = {}, {}
  for mark, host, port in raw:gmatch("(~?)(%d+%.%d+%.%d+%.%d+):(%d+)") do
    local into = mark == "~" and standby or list
    into[#into + 1] = { host = host, port = tonumber(port), id = host .. ":" .. port }
  end
  list.standby = standby
  return list
end

local function backends(key)
  local raw = routes:get(key)
  if not raw then return nil end
  local cached = parsed[key]
  if cached and cached.raw == raw then return cached.list end
  local list = parse(raw)
  parsed[key] = { raw = raw, list = list }
  return list
end

local function load_table(dir, fill)
  local index = io.open(dir .. "/_index", "r")
  if not index then return end
  for key in index:lines() do
    if key ~= "" then
      local f = io.open(dir .. "/" .. key, "r")
      if f then
        fill(key, f:read("*a") or "")
        f:close()
      end
    end
  end
  index:close()
end

local function add(dict, key, value)
  -- add() never overwrites: a reload cannot undo a change bimd made meanwhile.
  local ok, err = dict:safe_add(key, value)
  if not ok and err ~= "exists" then
    ngx.log(ngx.ERR, "bim: cannot load ", key, ": ", err, " (raise the route table size)")
  end
end

local function slurp(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local data = f:read("*a")
  f:close()
  return data
end

-- init_by_lua (the master, at start and at every reload): fills what the dicts lack from bimd's files.
function M.init(prefix)
  load_table(prefix .. "/routes", function(key, raw) add(routes, key, (raw:gsub("%s+$", ""))) end)
  load_table(prefix .. "/sites", function(_, raw)
    for line in raw:gmatch("[^\n]+") do
      local host, value = line:match("^(%S+)%s+(.-)%s*$")
      if host then
        add(hosts, host, value)
        -- "route cert key flags": the master may read bimd's files, the workers may not.
        local _, cert, key = value:match("^(%S+)%s*(%S*)%s*(%S*)")
        if certs and cert ~= "" then
          for _, path in ipairs({ cert, key }) do
            if not certs:get(path) then
              local pem = slurp(path)
              if pem then add(certs, path, pem) else ngx.log(ngx.ERR, "bim: cannot read ", path) end
            end
          end
        end
      end
    end
  end)
end

local function answer(status, text)
  ngx.status = status
  ngx.header["Content-Type"] = "text/plain"
  if status == 503 then ngx.header["Retry-After"] = "5" end
  ngx.say(text)
  return ngx.exit(status)
end

-- A host's entry: "route" for plain HTTP names; "route cert.pem key.pem flags" for names with a
-- certificate (flags: r = redirect plain HTTP to HTTPS, h = send HSTS, - = neither).
local function host_entry(name)
  local value = hosts:get(name)
  if not value then return nil end
  local route, cert, key, flags = value:match("^(%S+)%s*(%S*)%s*(%S*)%s*(%S*)")
  return route, cert, key, flags
end

-- access_by_lua: which app is this request for, and does it have backends?
function M.access()
  local route, cert, _, flags = host_entry(ngx.var.host)
  if not route then return answer(404, "bim: no app is deployed at this address") end
  if cert ~= "" then
    if ngx.var.scheme == "http" and flags:find("r", 1, true)
        and not ngx.var.uri:find("^/%.well%-known/acme%-challenge/") then
      return ngx.redirect("https://" .. ngx.var.host .. ngx.var.bim_https_port .. ngx.var.request_uri, 308)
    end
    if ngx.var.scheme == "https" and flags:find("h", 1, true) then
      ngx.header["Strict-Transport-Security"] = "max-age=31536000"
    end
  end
  ngx.ctx.bim_route = route
  local list = backends(route)
  if not list or #list == 0 then return answer(503, "bim: this app has no live release") end
end

-- ssl_certificate_by_lua: the certificate of the host the client names (SNI), from bim_certs. bimd
-- writes every new certificate under a new path (and stores its PEM before the host points at it),
-- so each worker parses a certificate once and keeps it per host name until the path changes. Hosts
-- without one get the server's fallback certificate (the handshake fails the client's name check).
local certificates = {}
function M.certificate()
  local ssl = require "ngx.ssl"
  local name = ssl.server_name()
  if not name then return end
  name = name:lower()
  local loaded
  for _ = 1, 2 do  -- twice: a renewal may replace the paths between reading the host and its PEM
    local _, cert_path, key_path = host_entry(name)
    if not cert_path or cert_path == "" then return end
    loaded = certificates[name]
    if loaded and loaded.path == cert_path then break end
    loaded = nil
    local cert_pem, key_pem = certs and certs:get(cert_path), certs and certs:get(key_path)
    if cert_pem and key_pem then
      local cert, err1 = ssl.parse_pem_cert(cert_pem)
      local key, err2 = ssl.parse_pem_priv_key(key_pem)
      if not cert or not key then
        ngx.log(ngx.ERR, "bim: bad certificate for ", name, ": ", tostring(err1 or err2))
        return
      end
      loaded = { path = cert_path, cert = cert, key = key }
      certificates[name] = loaded
      break
    end
  end
  if not loaded then
    ngx.log(ngx.ERR, "bim: the certificate of ", name, " is not loaded")
    return
  end
  ssl.clear_certs()
  local ok, err = ssl.set_cert(loaded.cert)
  if ok then ok, err = ssl.set_priv_key(loaded.key) end
  if not ok then ngx.log(ngx.ERR, "bim: cannot use the certificate of ", name, ": ", tostring(err)) end
end

-- balancer_by_lua: runs for the first try and for every retry. The route is read again on a retry,
-- so a retry after a connect error follows a switch made meanwhile.
function M.balance()
  local ctx = ngx.ctx
  local key = ctx.bim_route
  local list = key and backends(key)
  if not list or #list == 0 then
    ngx.log(ngx.ERR, "bim: route ", tostring(key), " has no backends")
    return ngx.exit(503)
  end
  if ctx.bim_peer then
    inflight:incr(ctx.bim_peer, -1, 0)
    ctx.bim_tried[ctx.bim_peer] = true
  else
    ctx.bim_tried = {}
    local tries = #list + #list.standby
    if tries > 1 then balancer.set_more_tries(tries - 1) end
  end
  local n = #list
  local start = turn[key] or 0
  turn[key] = (start + 1) % n
  local pick
  for i = 0, n - 1 do
    local b = list[((start + i) % n) + 1]
    if not ctx.bim_tried[b.id] then
      pick = b
      break
    end
  end
  -- Every backend failed this request: a standby (a watched release's predecessor) takes it.
  for _, b in ipairs(list.standby) do
    if pick then break end
    if not ctx.bim_tried[b.id] then pick = b end
  end
  pick = pick or list[(start % n) + 1]
  local ok, err = balancer.set_current_peer(pick.host, pick.port)
  if not ok then
    ngx.log(ngx.ERR, "bim: cannot use backend ", pick.id, ": ", err)
    return ngx.exit(500)
  end
  inflight:incr(pick.id, 1, 0)
  ctx.bim_peer = pick.id
end

-- log_by_lua: the request is over (answered, failed or aborted by the client).
function M.log()
  local peer = ngx.ctx.bim_peer
  if peer then
    inflight:incr(peer, -1, 0)
    ngx.ctx.bim_peer = nil
  end
end

local function body_text()
  ngx.req.read_body()
  local body = ngx.req.get_body_data()
  if not body then
    local file = ngx.req.get_body_file()
    if file then
      local f = io.open(file, "r")
      if f then
        body = f:read("*a")
        f:close()
      end
    end
  end
  return body or ""
end

local function body_lines()
  return body_text():gmatch("[^\n]+")
end

local function fail(status, message)
  ngx.status = status
  ngx.say(message)
  return ngx.exit(status)
end

-- Sets "key value..." lines into `dict`; with `replace`, removes every key not listed.
local function set_lines(dict, replace)
  local seen = {}
  for line in body_lines() do
    local key, rest = line:match("^(%S+)%s*(.-)%s*$")
    if key then
      local ok, err = dict:safe_set(key, rest)
      if not ok then return fail(507, "table full (" .. tostring(err) .. "): raise its size in nginx.conf") end
      seen[key] = true
    end
  end
  if replace then
    for _, key in ipairs(dict:get_keys(0)) do
      if not seen[key] then dict:delete(key) end
    end
  end
  ngx.say("ok")
end

-- The control server (unix socket, bimd only). Bodies are lines:
--   POST /routes/set      "key host:port host:port"  (no endpoints: the app has no live release)
--   POST /hosts/set       "host.name key"            (which route a host name uses)
--   POST /{routes,hosts}/replace  the same, removing every key not listed (bimd's full truth)
--   POST /{routes,hosts}/delete   "key"
--   GET  /routes/get?key=K                           answers "host:port ..." or 404
--   POST /certs/set?path=P  the PEM of file P        (HTTPS: before a host points at P)
--   POST /certs/delete      "path"                   (paths no host uses any more)
--   POST /certs/retain      "path"                   removes every path not listed
--   POST /inflight        "host:port"                answers "host:port N" for each
function M.control()
  local uri = ngx.var.uri
  local method = ngx.req.get_method()
  if uri == "/routes/get" and method == "GET" then
    local raw = routes:get(ngx.var.arg_key or "")
    if raw == nil then return fail(404, "no such route") end
    ngx.say(raw)
    return
  end
  if method ~= "POST" then return fail(405, "use POST") end
  if uri:find("^/certs/") then
    if not certs then return fail(404, "HTTPS is off") end
    if uri == "/certs/set" then
      local path = ngx.var.arg_path
      if not path or path == "" then return fail(400, "path= missing") end
      local ok, err = certs:safe_set(path, body_text())
      if not ok then return fail(507, "certificate table full (" .. tostring(err) .. "): raise its size in nginx.conf") end
    elseif uri == "/certs/delete" then
      for path in body_lines() do certs:delete(path) end
    elseif uri == "/certs/retain" then
      local keep = {}
      for path in body_lines() do keep[path] = true end
      for _, path in ipairs(certs:get_keys(0)) do
        if not keep[path] then certs:delete(path) end
      end
    else
      return fail(404, "unknown control path " .. uri)
    end
    ngx.say("ok")
    return
  end
  local table_name, op = uri:match("^/(%a+)/(%a+)$")
  local dict = (table_name == "routes" and routes) or (table_name == "hosts" and hosts) or nil
  if dict and (op == "set" or op == "replace") then
    return set_lines(dict, op == "replace")
  elseif dict and op == "delete" then
    for key in body_lines() do dict:delete(key) end
    ngx.say("ok")
  elseif uri == "/inflight" then
    local out = {}
    for id in body_lines() do out[#out + 1] = id .. " " .. tostring(inflight:get(id) or 0) end
    ngx.say(table.concat(out, "\n"))
  else
    return fail(404, "unknown control path " .. uri)
  end
end

return M
