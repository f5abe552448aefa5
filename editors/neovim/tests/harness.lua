-- A tiny test harness for `nvim --clean --headless -l`: puts the plugin on 'runtimepath', runs named cases, prints TAP-like lines.
local H = {}

local this = debug.getinfo(1, 'S').source:sub(2)
H.plugin_dir = vim.fs.dirname(vim.fs.dirname(vim.fn.fnamemodify(this, ':p')))
H.repo = vim.fs.dirname(vim.fs.dirname(H.plugin_dir))
H.golden_dir = vim.fs.joinpath(H.repo, 'protocol', 'tests', 'golden')

vim.opt.runtimepath:prepend(H.plugin_dir)
vim.cmd('runtime plugin/devspaces.lua')

local passed, failed = 0, 0

local function out(s)
  io.stdout:write(s .. '\n')
  io.stdout:flush()
end
H.out = out

--- Read a golden JSON file of protocol/tests/golden.
function H.golden(name)
  local f = assert(io.open(vim.fs.joinpath(H.golden_dir, name), 'r'), 'missing golden ' .. name)
  local s = f:read('*a')
  f:close()
  return vim.json.decode(s, { luanil = { object = true, array = true } })
end

function H.eq(want, got, what)
  if not vim.deep_equal(want, got) then
    error(string.format('%s: expected %s, got %s', what or 'value', vim.inspect(want), vim.inspect(got)), 2)
  end
end

function H.ok(cond, what)
  if not cond then
    error(what or 'assertion failed', 2)
  end
  return cond
end

--- Wait until `cond()` is truthy, else fail naming `what` (never a fixed sleep).
function H.wait(ms, cond, what)
  local ok = vim.wait(ms, cond, 20)
  if not ok then
    error(string.format('timed out after %d ms waiting for %s', ms, what or 'condition'), 2)
  end
end

--- Capture vim.notify calls while `fn` runs; returns the list of {msg, level}.
function H.capture_notify()
  local got = {}
  local orig = vim.notify
  vim.notify = function(msg, level)
    got[#got + 1] = { msg = msg, level = level }
  end
  return got, function()
    vim.notify = orig
  end
end

function H.test(name, fn)
  local ok, err = xpcall(fn, debug.traceback)
  if ok then
    passed = passed + 1
    out('ok - ' .. name)
  else
    failed = failed + 1
    out('not ok - ' .. name)
    for line in tostring(err):gmatch('[^\n]+') do
      out('#   ' .. line)
    end
  end
end

--- Print the summary and exit with the right code.
function H.done()
  out(string.format('# %d passed, %d failed', passed, failed))
  os.exit(failed == 0 and 0 or 1)
end

return H
