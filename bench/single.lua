-- wrk script: one event per POST /api/v1/events, a unique id per request.
-- env: TALLY_TOKEN (bearer secret), BENCH_TS (RFC 3339 timestamp to stamp events with), BENCH_RUN (run tag)
local threads_made = 0
function setup(thread)
  threads_made = threads_made + 1
  thread:set("tid", threads_made)
end

local counter, prefix, hdr
local models = {"gpt-4o","gpt-4o-mini","gpt-4.1","o3","o4-mini","gpt-5","gpt-4.1-mini","text-embedding-3-small"}
local feats = {"support-bot","search","summarize","classify","autocomplete","translate","agent","extract","rerank","chat-ui"}
local envs = {"prod","staging","dev"}

function init(args)
  counter = 0
  prefix = "single-" .. (os.getenv("BENCH_RUN") or "r") .. "-" .. tostring(tid)
  hdr = {["Authorization"] = "Bearer " .. os.getenv("TALLY_TOKEN"), ["Content-Type"] = "application/json"}
  ts = os.getenv("BENCH_TS")
end

function request()
  counter = counter + 1
  local st = (counter % 33 == 0) and '"status":"error","http_status":429,' or '"http_status":200,'
  local body = string.format('{"id":"%s-%d","timestamp":"%s","provider":"openai","model":"%s","input_tokens":%d,'
    .. '"cached_input_tokens":%d,"output_tokens":%d,"feature":"%s","user":"u-%d","api_key":"key-%02d",'
    .. '"environment":"%s",%s"latency_ms":%d,"streamed":true}',
    prefix, counter, ts, models[counter % #models + 1], 1000 + counter % 5000, counter % 500, 10 + counter % 900,
    feats[counter % #feats + 1], counter % 200, counter % 20, envs[counter % 3 + 1], st, 100 + counter % 3000)
  return wrk.format("POST", "/api/v1/events", hdr, body)
end
