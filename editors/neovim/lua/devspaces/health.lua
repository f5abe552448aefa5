-- :checkhealth devspaces: the daemon binary and its version, the Neovim version, the state dir.
local M = {}

local function state_dir()
  if vim.env.DEVSPACES_STATE_DIR and vim.env.DEVSPACES_STATE_DIR ~= '' then
    return vim.env.DEVSPACES_STATE_DIR, '$DEVSPACES_STATE_DIR'
  end
  if vim.env.XDG_STATE_HOME and vim.env.XDG_STATE_HOME ~= '' then
    return vim.fs.joinpath(vim.env.XDG_STATE_HOME, 'devspaces'), '$XDG_STATE_HOME/devspaces'
  end
  return vim.fs.joinpath(vim.uv.os_homedir() or '~', '.local', 'state', 'devspaces'), '~/.local/state/devspaces'
end

function M.check()
  local h = vim.health
  local config = require('devspaces.config')

  h.start('devspaces: Neovim')
  if vim.fn.has('nvim-0.10') == 1 then
    h.ok('Neovim ' .. tostring(vim.version()))
  else
    h.error('Neovim ' .. tostring(vim.version()) .. ' is too old', { 'devspaces needs Neovim 0.10 or newer' })
  end

  h.start('devspaces: daemon')
  local exe, missing = config.resolve_daemon()
  if not exe then
    h.error(missing, {
      "build it with 'cargo build -p devspacesd', then point daemon_path (setup) or $DEVSPACESD at it",
    })
  else
    local res = vim.system({ exe, '--version' }, { text = true }):wait(5000)
    local out = vim.trim((res.stdout or '') .. (res.stderr or ''))
    if res.code ~= 0 then
      h.error(string.format("'%s --version' exited with code %s: %s", exe, tostring(res.code), out))
    elseif out == '' then
      h.warn(string.format("'%s --version' printed nothing", exe), { 'is this an up-to-date devspacesd?' })
    else
      h.ok(string.format('%s: %s', exe, out))
    end
  end

  h.start('devspaces: state')
  local dir, from = state_dir()
  if vim.uv.fs_stat(dir) then
    h.ok(string.format('state dir %s (%s)', dir, from))
    local sockets = {}
    for name, kind in vim.fs.dir(dir) do
      if kind == 'socket' then
        sockets[#sockets + 1] = vim.fs.joinpath(dir, name)
      end
    end
    if #sockets > 0 then
      h.ok('daemon socket: ' .. table.concat(sockets, ', '))
    else
      h.info('no daemon socket: the daemon is not running (devspacesd --stdio starts it when needed)')
    end
  else
    h.info(string.format('state dir %s (%s) does not exist yet: the daemon creates it on first start', dir, from))
  end

  local clients = vim.lsp.get_clients({ name = 'devspaces' })
  if #clients > 0 then
    for _, c in ipairs(clients) do
      h.ok(string.format('connected: %s (client %d)', c.root_dir or '?', c.id))
    end
  end
end

return M
