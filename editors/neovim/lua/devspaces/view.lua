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

--- One trace as a line of the traces buffer: time, service, method, path, status, duration; for a
--- routing proxy's trace, its caller and the space that served it; and the first 8 digits of its
--- trace id, the same on every hop of one request.
function M.trace_text(t)
  local line = string.format(
    '%s %s %s %s %s %sms',
    clock(t.time),
    t.service or '?',
    t.method or '?',
    t.path or '?',
    tostring(t.status or '?'),
    tostring(t.durationMs or '?')
  )
  if type(t.routed) == 'table' then
    line = line .. string.format(' from %s, served by %s', t.routed.source or '?', t.routed.servedBy or '?')
  end
  if type(t.link) == 'table' and type(t.link.traceId) == 'string' then
    line = line .. ' trace ' .. t.link.traceId:sub(1, 8)
  end
  return line
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

--- How many recent requests the status view shows under each service.
M.status_traces = 5

--- The keys of the status view, as its first line lists them.
M.status_keys = 'd down  r restart  o open URL  l logs  D down all  R restart all  q close'

--- The status view as lines: every session with its phase, folder, forwards (URLs), last sync and
--- recent requests. Returns the lines and, for each line of a session's block, the session ID.
function M.status_lines(st)
  local lines, at = {}, {}
  local sessions = st:session_list()
  local live = #st:live_sessions()
  lines[1] = string.format('devspaces: %d %s up   %s', live, live == 1 and 'service' or 'services', M.status_keys)
  if #sessions == 0 then
    lines[#lines + 1] = ''
    lines[#lines + 1] = 'no session yet: :DevSpacesUp in a service folder, or in a folder of services'
    return lines, at
  end
  for _, s in ipairs(sessions) do
    lines[#lines + 1] = ''
    local head = string.format('%s  %s', s.service or s.session, s.phase or 'unknown')
    if s.detail and s.detail ~= '' then
      head = head .. ' (' .. s.detail .. ')'
    end
    local where = {}
    if s.space then
      where[#where + 1] = 'space ' .. s.space
    end
    if s.backend then
      where[#where + 1] = s.backend
    end
    where[#where + 1] = 'session ' .. s.session
    if #where > 0 then
      head = head .. '  ' .. table.concat(where, ', ')
    end
    local block = { head }
    if s.path then
      block[#block + 1] = '  ' .. s.path
    end
    local ports = vim.tbl_values(s.ports or {})
    table.sort(ports, function(a, b)
      return a.localPort < b.localPort
    end)
    for _, pf in ipairs(ports) do
      local line = string.format('  %s -> %s', pf.url or '?', tostring(pf.remotePort or '?'))
      if pf.state and pf.state ~= 'open' then
        line = line .. ' [' .. pf.state .. ']'
      end
      block[#block + 1] = line
    end
    if s.debug then
      local d = s.debug
      block[#block + 1] = string.format('  debugger %s %s:%s -> %s (restart %s)', d.adapter or '?', d.host or '?', tostring(d.port or '?'),
        tostring(d.remotePort or '?'), tostring(d.restarts or 0))
    end
    if s.last_synced then
      local files = s.last_synced.files or {}
      local shown = #files <= 3 and table.concat(files, ', ') or string.format('%d files', #files)
      local ms = tostring(s.last_synced.durationMs or '?')
      block[#block + 1] = string.format('  synced %s: %s (%s ms)', s.last_synced.class or '?', shown, ms)
    end
    local traces = st:session_traces(s.session, M.status_traces)
    if #traces == 0 then
      block[#block + 1] = '  no requests yet'
    end
    for _, t in ipairs(traces) do
      block[#block + 1] = string.format('  %s %s %s %sms  %s', t.method or '?', t.path or '?', tostring(t.status or '?'),
        tostring(t.durationMs or '?'), clock(t.time))
    end
    for _, line in ipairs(block) do
      lines[#lines + 1] = line
      at[#lines] = s.session
    end
  end
  return lines, at
end

-- Scratch buffers ---------------------------------------------------------------------------

M.buffers = { logs = {}, traces = nil, status = nil }
-- status buffer line -> session ID, as last rendered
local status_at = {}

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

--- Render the status view into its buffer (when it is open).
function M.render_status(st)
  local buf = M.buffers.status
  if not buf or not vim.api.nvim_buf_is_valid(buf) then
    return
  end
  local lines, at = M.status_lines(st)
  status_at = at
  set_lines(buf, 0, -1, lines)
end

--- The status buffer, created when new, rendered from the state.
function M.status_buffer(st)
  local buf = scratch('devspaces://status', 'devspacesstatus')
  M.buffers.status = buf
  M.render_status(st)
  return buf
end

--- The session ID of the block a line of the status view belongs to, or nil.
function M.status_session_at(line)
  return status_at[line]
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

--- Keep open buffers current with the state: call once per state. The status view is rendered
--- again once per batch of changes (on the next turn of the event loop).
function M.attach(st)
  local pending = false
  local function rerender()
    if pending or not M.buffers.status then
      return
    end
    pending = true
    vim.schedule(function()
      pending = false
      M.render_status(st)
    end)
  end
  return st:subscribe(function(change)
    if change.kind ~= 'log' and change.kind ~= 'progress' and change.kind ~= 'message' then
      rerender()
    end
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
