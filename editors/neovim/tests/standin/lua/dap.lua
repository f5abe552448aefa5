-- A stand-in for nvim-dap in the specs: the tables nvim-dap keeps (adapters, configurations,
-- listeners) and `run`, which records each configuration it is given instead of debugging.
local M = {
  adapters = {},
  configurations = {},
  listeners = { before = {}, after = {} },
  runs = {},
}

function M.run(config)
  M.runs[#M.runs + 1] = vim.deepcopy(config)
end

return M
