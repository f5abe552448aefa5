-- The connection to the daemon: one `devspacesd --stdio` LSP client per service folder, via vim.lsp.start.
local config = require('devspaces.config')

local M = {}

M.name = 'devspaces'
--- The protocol version this plugin was written for (docs/protocol.md).
M.PROTOCOL_VERSION = 1

--- Every notification the daemon sends that the state records.
M.notifications = {
  'devspaces/log',
  'devspaces/logsDropped',
  'devspaces/trace',
  'devspaces/portForward',
  'devspaces/serviceStatus',
  'devspaces/synced',
  'devspaces/debugReady',
  'window/showMessage',
  '$/progress',
}

-- client id -> callbacks waiting for `initialize` to finish: fn(client) or fn(nil, err)
local waiting = {}

--- The service folder of a buffer or path: the folder of the nearest azds.yaml above it.
function M.root(source)
  local root = vim.fs.root(source or 0, 'azds.yaml')
  if root then
    root = vim.uv.fs_realpath(root) or root
  end
  return root
end

local function flush(id, client, err)
  local cbs = waiting[id] or {}
  waiting[id] = nil
  for _, cb in ipairs(cbs) do
    cb(client, err)
  end
end

--- The handlers table for vim.lsp.start: each notification goes to `dispatch(method, params)`.
function M.handlers(dispatch)
  local h = {}
  for _, method in ipairs(M.notifications) do
    h[method] = function(err, params, ctx, cfg)
      if method == '$/progress' and vim.lsp.handlers['$/progress'] then
        -- keep vim.lsp.status() and LspProgress working too
        vim.lsp.handlers['$/progress'](err, params, ctx, cfg)
      end
      dispatch(method, params)
    end
  end
  return h
end

--- The running client for a folder: the one started there, else one started on a folder above
--- it (the client of an application's folder serves its services), if any.
function M.get(root)
  local above
  for _, c in ipairs(vim.lsp.get_clients({ name = M.name })) do
    if not c:is_stopped() and c.root_dir then
      if c.root_dir == root then
        return c
      elseif root and vim.startswith(root, c.root_dir .. '/') and (not above or #c.root_dir > #above.root_dir) then
        above = c
      end
    end
  end
  return above
end

--- Any running devspaces client (the daemon is shared, so any of them can answer global requests).
function M.any()
  return vim.lsp.get_clients({ name = M.name })[1]
end

--- Start (or reuse) the client for `root` and call `cb(client)` once it is initialized, or
--- `cb(nil, message)` when it cannot start.
function M.with_client(root, dispatch, cb)
  local exe, msg = config.resolve_daemon()
  if not exe then
    return cb(nil, msg)
  end
  local existing = M.get(root)
  if existing and existing.initialized then
    return cb(existing)
  end
  local ok, id = pcall(vim.lsp.start, {
    name = M.name,
    cmd = { exe, '--stdio' },
    root_dir = root,
    handlers = M.handlers(dispatch),
    on_init = function(client, result)
      local dev = vim.tbl_get(result or {}, 'capabilities', 'experimental', 'devspaces') or {}
      if dev.protocolVersion ~= M.PROTOCOL_VERSION then
        local err = string.format(
          'devspacesd speaks protocol version %s, this plugin speaks %d: update the one that is older',
          tostring(dev.protocolVersion),
          M.PROTOCOL_VERSION
        )
        client:stop()
        return flush(client.id, nil, err)
      end
      flush(client.id, client)
    end,
    on_exit = function(code, signal, client_id)
      local err = string.format('devspacesd --stdio exited (code %s, signal %s)', tostring(code), tostring(signal))
      flush(client_id, nil, err)
      if code ~= 0 then
        vim.schedule(function()
          vim.notify('devspaces: ' .. err, vim.log.levels.ERROR)
        end)
      end
    end,
  }, { attach = false })
  if not ok or not id then
    return cb(nil, string.format("could not start '%s --stdio': %s", exe, tostring(id)))
  end
  local client = vim.lsp.get_client_by_id(id)
  if client and client.initialized then
    return cb(client)
  end
  waiting[id] = waiting[id] or {}
  table.insert(waiting[id], cb)
end

--- Send a request once the client for `root` is up: `cb(err, result)`, err a string or a
--- JSON-RPC error object.
function M.request(root, dispatch, method, params, cb)
  M.with_client(root, dispatch, function(client, err)
    if not client then
      return cb(err)
    end
    client:request(method, params, function(rpc_err, result)
      cb(rpc_err, result)
    end)
  end)
end

--- Attach azds.yaml buffers to the client of their service, for the daemon's diagnostics.
function M.attach_config_buffer(buf)
  local name = vim.api.nvim_buf_get_name(buf)
  if vim.fs.basename(name) ~= 'azds.yaml' then
    return
  end
  local client = M.get(M.root(buf))
  if client and not vim.lsp.buf_is_attached(buf, client.id) then
    vim.lsp.buf_attach_client(buf, client.id)
  end
end

return M
