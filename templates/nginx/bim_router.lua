-- bim_router: routes as data for bimd's nginx. bimd copies this file next to nginx.conf; it is bim's
-- mechanism rather than a template to customise (customise app.conf.mustache and nginx.conf.mustache).
--
-- Two shared dicts, seen by every worker of every generation (they survive reloads):
--   bim_routes    route key -> "host:port host:port ..." (the backends of that route)
--   bim_inflight  "host:port" -> requests in flight to that backend right now
-- A server block sets $bim_route to its route key and proxies to the one upstream, bim_backends,
-- whose balancer picks a backend from bim_routes. bimd changes routes through the control server on a
-- unix socket inside its data dir (see control below), and persists them in <prefix>/routes/ first,
-- which init reads when nginx starts.
local balancer = require "ngx.balancer"

local routes = ngx.shared.bim_routes
local inflight = ngx.shared.bim_inflight

local M = {}

-- Per worker: the parsed backends of each route (re-parsed when the dict's value changes), and the
-- round-robin position of each route.
local parsed = {}
local turn = {}

local function parse(raw)
  local list = {}
  for host, port in raw:gmatch("(%d+%.%d+%.%d+%.%d+):(%d+)") do
    list[#list + 1] = { host = host, port = tonumber(port), id = host .. ":" .. port }
  end
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

local function read_line(path)
  local f = io.open(path, "r")
  if not f then return nil end
  local line = f:read("*l") or ""
  f:close()
  return line
end

-- init_by_lua (the master, at start and at every reload): routes the dict lacks are read from the
-- files bimd keeps. add() never overwrites, so a reload cannot undo a switch bimd made meanwhile.
function M.init(dir)
  local index = io.open(dir .. "/_index", "r")
  if not index then return end
  for key in index:lines() do
    if key ~= "" and routes:get(key) == nil then
      local raw = read_line(dir .. "/" .. key)
      if raw then
        local ok, err = routes:safe_add(key, raw)
        if not ok and err ~= "exists" then
          ngx.log(ngx.ERR, "bim: cannot load route ", key, ": ", err, " (raise the route table size)")
        end
      end
    end
  end
  index:close()
end

-- access_by_lua: a route with no backends answers 503 here, with a message, instead of a bare 502.
function M.access()
  local key = ngx.var.bim_route
  if not key or key == "" then return end
  local list = backends(key)
  if not list or #list == 0 then
    ngx.status = 503
    ngx.header["Content-Type"] = "text/plain"
    ngx.header["Retry-After"] = "5"
    ngx.say("bim: this app has no live release")
    return ngx.exit(503)
  end
end

-- balancer_by_lua: runs for the first try and for every retry. The route is read again on a retry,
-- so a retry after a connect error follows a switch made meanwhile.
function M.balance()
  local ctx = ngx.ctx
  local key = ngx.var.bim_route
  local list = backends(key)
  if not list or #list == 0 then
    ngx.log(ngx.ERR, "bim: route ", key, " has no backends")
    return ngx.exit(503)
  end
  if ctx.bim_peer then
    inflight:incr(ctx.bim_peer, -1, 0)
    ctx.bim_tried[ctx.bim_peer] = true
  else
    ctx.bim_tried = {}
    if #list > 1 then balancer.set_more_tries(#list - 1) end
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

local function body_lines()
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
  return (body or ""):gmatch("[^\n]+")
end

local function fail(status, message)
  ngx.status = status
  ngx.say(message)
  return ngx.exit(status)
end

-- The control server (unix socket, bimd only). One request per change; bodies are lines:
--   POST /routes/set      "key host:port host:port"  sets each key (no endpoints: no live release)
--   POST /routes/replace  same, and removes every key not listed (bimd's full truth at start)
--   POST /routes/delete   "key"                      removes each key
--   GET  /routes/get?key=K                           answers "host:port ..." or 404
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
  if uri == "/routes/set" or uri == "/routes/replace" then
    local seen = {}
    for line in body_lines() do
      local key, rest = line:match("^(%S+)%s*(.-)%s*$")
      if key then
        local ok, err = routes:safe_set(key, rest)
        if not ok then return fail(507, "bim_routes is full (" .. tostring(err) .. "): raise the route table size") end
        seen[key] = true
      end
    end
    if uri == "/routes/replace" then
      for _, key in ipairs(routes:get_keys(0)) do
        if not seen[key] then routes:delete(key) end
      end
    end
    ngx.say("ok")
  elseif uri == "/routes/delete" then
    for key in body_lines() do routes:delete(key) end
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
