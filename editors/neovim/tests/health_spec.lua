-- Tests of :checkhealth devspaces: OK with a daemon present, a clear error without it.
local H = dofile(vim.fs.dirname(vim.fn.fnamemodify(debug.getinfo(1, 'S').source:sub(2), ':p')) .. '/harness.lua')
local ds = require('devspaces')

local tmp = vim.fn.tempname()
vim.fn.mkdir(tmp, 'p')
vim.env.DEVSPACES_STATE_DIR = tmp

local function checkhealth()
  vim.cmd('silent checkhealth devspaces')
  local lines = vim.api.nvim_buf_get_lines(0, 0, -1, false)
  vim.cmd('bwipeout!')
  return table.concat(lines, '\n')
end

-- A present daemon: the test double (its --version answers at once); e2e_spec.lua checks the real one.
local present = vim.fs.joinpath(H.plugin_dir, 'tests', 'fake-devspacesd')

H.test('with a daemon present: OK with its --version output', function()
  ds.setup({ daemon_path = present })
  local out = checkhealth()
  local version = vim.trim(vim.system({ present, '--version' }, { text = true }):wait().stdout)
  H.ok(version ~= '', 'the daemon prints a version')
  H.ok(out:find('- ✅ OK ' .. vim.fn.exepath(present) .. ': ' .. version, 1, true), out)
  H.ok(out:find('state dir ' .. tmp .. ' ($DEVSPACES_STATE_DIR)', 1, true), out)
  H.ok(not out:find('ERROR', 1, true), out)
end)

H.test('without the daemon: a clear error naming the path and how to fix it', function()
  local missing = vim.fs.joinpath(tmp, 'nonexistent', 'devspacesd')
  ds.setup({ daemon_path = missing })
  local out = checkhealth()
  H.ok(out:find("- ❌ ERROR devspacesd not found at '" .. missing .. "'", 1, true), out)
  H.ok(out:find('DEVSPACESD', 1, true), out)
end)

H.test('a socket in the state dir is reported', function()
  ds.setup({ daemon_path = present })
  local sock = vim.fs.joinpath(tmp, 'daemon.sock')
  local server = vim.uv.new_pipe(false)
  assert(server:bind(sock))
  local out = checkhealth()
  server:close()
  H.ok(out:find('daemon socket: ' .. sock, 1, true), out)
end)

H.done()
