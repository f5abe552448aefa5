-- Renders the state: log and trace lines, the statusline, failure messages and the live scratch buffers.
local M = {}

local function clock(time)
  return type(time) == 'string' and time:match('T(%d%d:%d%d:%d%d)') or '--:--:--'
end

--- One log entry as a line of the logs buffer.
function M.log_text(entry)
  if entry.dropped then
    return string.format('-- %d lines dropped --', entry.dropped)
  end
  return string.format('%s %-6s %s', clock(entry.time), entry.stream or '', entry.line or '')
end

--- One trace as a line of the traces buffer: time, service, method, path, status, duration.
function M.trace_text(t)
  return string.format(
    '%s %s %s %s %s %sms',
    clock(t.time),
    t.service or '?',
    t.method or '?',
    t.path or '?',
    tostring(t.status or '?'),
    tostring(t.durationMs or '?')
  )
end

--- The phase of every known session, `service: phase`, joined; '' with none.
function M.statusline(st)
  local parts = {}
  for _, s in ipairs(st:session_list()) do
    if s.phase then
      parts[#parts + 1] = string.format('%s: %s', s.service or s.session, s.phase)
    end
  end
  return table.concat(parts, ' | ')
end

local levels = { [1] = vim.log.levels.ERROR, [2] = vim.log.levels.WARN, [3] = vim.log.levels.INFO, [4] = vim.log.levels.DEBUG }

--- The notification a change deserves, as (message, level), or nil: showMessage and
--- serviceStatus crashed/failed.
function M.failure(change)
  if change.kind == 'message' then
    local m = change.message
    return 'devspaces: ' .. tostring(m.message), levels[m.type] or vim.log.levels.INFO
  end
  if change.kind == 'serviceStatus' then
    local p = change.status
    if p.phase == 'crashed' or p.phase == 'failed' then
      local head = string.format('devspaces: %s %s', p.service, p.phase)
      if p.exitCode ~= nil then
        head = head .. string.format(' (exit code %d)', p.exitCode)
      end
      if p.detail and p.detail ~= '' then
        head = head .. ': ' .. p.detail
      end
      local lines = { head }
      for _, l in ipairs(p.lastLines or {}) do
        lines[#lines + 1] = '  ' .. l
      end
      return table.concat(lines, '\n'), vim.log.levels.ERROR
    end
  end
  return nil
end

--- A port forward or URI (listUris element) as a line for a picker.
function M.uri_text(u)
  local s = string.format('%s  %s', u.service or '?', u.url or '?')
  if u.remotePort then
    s = s .. string.format('  (port %d', u.remotePort) .. (u.kind and (', ' .. u.kind) or '') .. ')'
  end
  if u.state and u.state ~= 'open' then
    s = s .. ' [' .. u.state .. ']'
  end
  return s
end

--- A classify result as lines: one per path, `path: class (rule)`.
function M.classify_lines(result)
  local out = {}
  for _, r in ipairs(result.results or {}) do
    out[#out + 1] = string.format('%s: %s (%s)', r.path, r.class, r.rule)
  end
  return out
end

-- Scratch buffers ---------------------------------------------------------------------------

M.buffers = { logs = {}, traces = nil }

local function scratch(name, filetype)
  local existing = vim.fn.bufnr(name)
  if existing ~= -1 and vim.api.nvim_buf_is_valid(existing) then
    return existing, false
  end
  local buf = vim.api.nvim_create_buf(false, true)
  vim.api.nvim_buf_set_name(buf, name)
  vim.bo[buf].buftype = 'nofile'
  vim.bo[buf].bufhidden = 'hide'
  vim.bo[buf].swapfile = false
  vim.bo[buf].filetype = filetype
  vim.bo[buf].modifiable = false
  return buf, true
end

local function set_lines(buf, first, last, lines)
  vim.bo[buf].modifiable = true
  vim.api.nvim_buf_set_lines(buf, first, last, false, lines)
  vim.bo[buf].modifiable = false
end

-- Append lines, dropping `trimmed` from the top; windows whose cursor was on the last line follow.
local function append(buf, lines, trimmed)
  if not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  local count = vim.api.nvim_buf_line_count(buf)
  local following = {}
  for _, win in ipairs(vim.fn.win_findbuf(buf)) do
    following[win] = vim.api.nvim_win_get_cursor(win)[1] >= count
  end
  local empty = count == 1 and vim.api.nvim_buf_get_lines(buf, 0, 1, false)[1] == ''
  if empty then
    set_lines(buf, 0, -1, lines)
  else
    set_lines(buf, -1, -1, lines)
  end
  if trimmed and trimmed > 0 then
    set_lines(buf, 0, math.min(trimmed, vim.api.nvim_buf_line_count(buf) - 1), {})
  end
  local last = vim.api.nvim_buf_line_count(buf)
  for win, follow in pairs(following) do
    if follow and vim.api.nvim_win_is_valid(win) then
      vim.api.nvim_win_set_cursor(win, { last, 0 })
    end
  end
end

--- The logs buffer of a service, created and filled from the state when new.
function M.logs_buffer(st, service)
  local buf, new = scratch('devspaces://logs/' .. service, 'devspaceslog')
  M.buffers.logs[service] = buf
  if new then
    local lines = vim.tbl_map(M.log_text, st:log_lines(service))
    set_lines(buf, 0, -1, lines)
  end
  return buf
end

--- The traces buffer, created and filled from the state when new.
function M.traces_buffer(st)
  local buf, new = scratch('devspaces://traces', 'devspacestraces')
  M.buffers.traces = buf
  if new then
    set_lines(buf, 0, -1, vim.tbl_map(M.trace_text, st.traces))
  end
  return buf
end

--- Show a buffer in a split below (or focus the window already showing it), cursor at the end.
function M.show(buf)
  local win = vim.fn.win_findbuf(buf)[1]
  if not win then
    vim.cmd('botright split')
    win = vim.api.nvim_get_current_win()
    vim.api.nvim_win_set_buf(win, buf)
  end
  vim.api.nvim_set_current_win(win)
  vim.api.nvim_win_set_cursor(win, { vim.api.nvim_buf_line_count(buf), 0 })
  return win
end

--- Keep open buffers current with the state: call once per state.
function M.attach(st)
  return st:subscribe(function(change)
    if change.kind == 'log' then
      local buf = M.buffers.logs[change.service]
      if buf then
        append(buf, { M.log_text(change.entry) }, change.trimmed)
      end
    elseif change.kind == 'trace' and M.buffers.traces then
      append(M.buffers.traces, { M.trace_text(change.trace) }, change.trimmed)
    end
  end)
end

return M
