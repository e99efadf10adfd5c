--[[
Teachfloor webhook verification for ngx_lua (Debian's libnginx-mod-http-lua):
the Lua peer of ngx_http_teachfloor_module that scripts/bench measures.

It makes the same checks, in the same order, with the same answers:

  method POST, else 405 method_not_allowed (Allow: POST)
  one Teachfloor-Signature header of 64 hex digits, else 401
  HMAC-SHA256 of the raw body under each secret, constant-time compare,
    else 401 invalid_signature
  the body one JSON object (cjson.safe), else 400 malformed_json
  the envelope: event (or type) [a-z0-9_] segments joined by dots, at least
    two; timestamp (or created_at) RFC 3339; data an object; id, when
    present, a non-empty string; test, when present, a boolean;
    else 422 invalid_envelope
  the event patterns (as teachfloor_events: "*" is one whole segment, "!"
    excludes), else 200 filtered
  otherwise the access phase ends and the location's proxy_pass forwards.

Written to be fast, not handicapped: the keyed HMAC state is prepared once
per secret at configuration (the inner and outer SHA-256 states after the
padded key, as the module does) and copied per request into a buffer that
is allocated once; hex decoding and the comparison are OpenSSL's
(OPENSSL_hexstr2buf_ex, CRYPTO_memcmp) through LuaJIT's FFI; the regular
expressions are PCRE-JIT compiled and cached ("jo"); the patterns are one
alternation.

  init_by_lua_block {
      require("teachfloor").configure{
          secrets = { "whsec_..." },
          events  = { "element.*", "member.*", "course.*" },
      }
  }
  location = /webhooks/teachfloor {
      access_by_lua_block { require("teachfloor").gate() }
      proxy_pass http://app;
  }

lua-cjson 2.1.0 (Debian's lua-cjson) decodes {} and [] alike; a non-empty
array is told apart by its [1], an empty one cannot be.
]]

local ffi = require "ffi"
local cjson = require "cjson.safe"

local ngx = ngx
local re_find = ngx.re.find
local re_match = ngx.re.match
local type = type
local tonumber = tonumber
local decode = cjson.decode

ffi.cdef [[
typedef struct {
    unsigned int h[8];
    unsigned int Nl, Nh;
    unsigned int data[16];
    unsigned int num, md_len;
} tf_sha256_ctx_t;

int SHA256_Init(tf_sha256_ctx_t *c);
int SHA256_Update(tf_sha256_ctx_t *c, const void *data, size_t len);
int SHA256_Final(unsigned char *md, tf_sha256_ctx_t *c);
int CRYPTO_memcmp(const void *a, const void *b, size_t len);
int OPENSSL_hexstr2buf_ex(unsigned char *buf, size_t buf_n, size_t *buflen,
                          const char *str, const char sep);
void OPENSSL_cleanse(void *ptr, size_t len);
void ERR_clear_error(void);
]]

local crypto
do
    local ok, lib = pcall(ffi.load, "libcrypto.so.3")
    crypto = ok and lib or ffi.C
end

local CTX_SIZE = ffi.sizeof("tf_sha256_ctx_t")

-- per worker, allocated once, reused by every request
local work = ffi.new("tf_sha256_ctx_t")
local inner_md = ffi.new("unsigned char[32]")
local digest = ffi.new("unsigned char[32]")
local expected = ffi.new("unsigned char[32]")
local expected_len = ffi.new("size_t[1]")
local time_caps = {}

local _M = { _VERSION = "0.1" }

local keys = {}
local include_re, exclude_re
local sig_var = "http_teachfloor_signature"

local EVENT_RE = [[^[a-z0-9_]+(?:\.[a-z0-9_]+)+\z]]
local TIME_RE = [[^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?]]
                .. [[(?:[Zz]|[+-](\d\d):(\d\d))\z]]
local MDAYS = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 }


local function prepare_key(secret)
    local block = ffi.new("unsigned char[64]")
    local pad = ffi.new("unsigned char[64]")

    if #secret > 64 then
        local c = ffi.new("tf_sha256_ctx_t")
        crypto.SHA256_Init(c)
        crypto.SHA256_Update(c, secret, #secret)
        crypto.SHA256_Final(block, c)
    else
        ffi.copy(block, secret, #secret)
    end

    local key = {
        inner = ffi.new("tf_sha256_ctx_t"),
        outer = ffi.new("tf_sha256_ctx_t"),
    }

    for i = 0, 63 do pad[i] = bit.bxor(block[i], 0x36) end
    crypto.SHA256_Init(key.inner)
    crypto.SHA256_Update(key.inner, pad, 64)

    for i = 0, 63 do pad[i] = bit.bxor(block[i], 0x5c) end
    crypto.SHA256_Init(key.outer)
    crypto.SHA256_Update(key.outer, pad, 64)

    crypto.OPENSSL_cleanse(block, 64)
    crypto.OPENSSL_cleanse(pad, 64)

    return key
end


local function pattern_re(p)
    if p == "*" then
        return [[[a-z0-9_]+(?:\.[a-z0-9_]+)+]]
    end

    local parts = {}
    for seg in p:gmatch("[^.]+") do
        if seg == "*" then
            parts[#parts + 1] = "[a-z0-9_]+"
        elseif seg:find("^[a-z0-9_]+$") then
            parts[#parts + 1] = seg
        else
            error("teachfloor: bad event pattern \"" .. p .. "\"")
        end
    end

    if #parts < 1 or p:find("%.%.") or p:find("^%.") or p:find("%.$") then
        error("teachfloor: bad event pattern \"" .. p .. "\"")
    end

    return table.concat(parts, [[\.]])
end


-- conf: secrets = { ... }, events = { ... } (optional),
--       header = "Teachfloor-Signature" (optional)
function _M.configure(conf)
    keys = {}
    for i, s in ipairs(conf.secrets or {}) do
        keys[i] = prepare_key(s)
    end
    assert(#keys > 0, "teachfloor: no secret")

    local inc, exc = {}, {}
    for _, p in ipairs(conf.events or {}) do
        if p:sub(1, 1) == "!" then
            exc[#exc + 1] = pattern_re(p:sub(2))
        else
            inc[#inc + 1] = pattern_re(p)
        end
    end

    include_re = #inc > 0 and "^(?:" .. table.concat(inc, "|") .. [[)\z]]
                 or nil
    exclude_re = #exc > 0 and "^(?:" .. table.concat(exc, "|") .. [[)\z]]
                 or nil

    if conf.header then
        sig_var = "http_" .. conf.header:lower():gsub("-", "_")
    end
end


local answers = {}
for _, r in ipairs { "method_not_allowed", "missing_signature",
                     "invalid_signature", "malformed_json",
                     "invalid_envelope", "filtered" } do
    answers[r] = '{"result":"' .. r .. '"}\n'
end


local function answer(status, result, level)
    ngx.log(level or ngx.WARN, "teachfloor webhook ", result)

    local body = answers[result]
    ngx.status = status
    ngx.header["Content-Type"] = "application/json"
    ngx.header["Content-Length"] = #body
    ngx.print(body)
    return ngx.exit(status)
end


local function hmac_matches(key, body)
    ffi.copy(work, key.inner, CTX_SIZE)
    crypto.SHA256_Update(work, body, #body)
    crypto.SHA256_Final(inner_md, work)

    ffi.copy(work, key.outer, CTX_SIZE)
    crypto.SHA256_Update(work, inner_md, 32)
    crypto.SHA256_Final(digest, work)

    return crypto.CRYPTO_memcmp(digest, expected, 32) == 0
end


local function rfc3339(t)
    local m = re_match(t, TIME_RE, "jo", nil, time_caps)
    if not m then
        return false
    end

    local year, month, day = tonumber(m[1]), tonumber(m[2]), tonumber(m[3])

    if month < 1 or month > 12 or tonumber(m[4]) > 23
       or tonumber(m[5]) > 59 or tonumber(m[6]) > 60
    then
        return false
    end

    local mdays = MDAYS[month]
    if month == 2 and year % 4 == 0
       and (year % 100 ~= 0 or year % 400 == 0)
    then
        mdays = 29
    end

    if day < 1 or day > mdays then
        return false
    end

    if m[7] and (tonumber(m[7]) > 23 or tonumber(m[8]) > 59) then
        return false
    end

    return true
end


local function read_file(path)
    local f = io.open(path, "rb")
    if not f then
        return nil
    end
    local data = f:read("*a")
    f:close()
    return data
end


function _M.gate()
    if ngx.req.get_method() ~= "POST" then
        ngx.header["Allow"] = "POST"
        return answer(405, "method_not_allowed")
    end

    -- nginx 1.22 gives the first of repeated headers: see the README
    local sig = ngx.var[sig_var]

    if sig == nil then
        return answer(401, "missing_signature")
    end

    if #sig ~= 64 then
        return answer(401, "invalid_signature")
    end

    if crypto.OPENSSL_hexstr2buf_ex(expected, 32, expected_len, sig, 0) ~= 1
    then
        crypto.ERR_clear_error()  -- the bad digit was queued as an error
        return answer(401, "invalid_signature")
    end

    ngx.req.read_body()

    local body = ngx.req.get_body_data()
    if body == nil then
        local path = ngx.req.get_body_file()
        body = path and read_file(path) or ""
        if body == nil then
            return ngx.exit(500)
        end
    end

    local ok = false
    for i = 1, #keys do
        if hmac_matches(keys[i], body) then
            ok = true
            break
        end
    end

    if not ok then
        return answer(401, "invalid_signature")
    end

    local env = decode(body)

    if type(env) ~= "table" or env[1] ~= nil then
        return answer(400, "malformed_json")
    end

    local name = env.event
    if name == nil then
        name = env.type
    end

    if type(name) ~= "string" or not re_find(name, EVENT_RE, "jo") then
        return answer(422, "invalid_envelope")
    end

    local t = env.timestamp
    if t == nil then
        t = env.created_at
    end

    if type(t) ~= "string" or not rfc3339(t) then
        return answer(422, "invalid_envelope")
    end

    local data = env.data
    if type(data) ~= "table" or data[1] ~= nil then
        return answer(422, "invalid_envelope")
    end

    local id = env.id
    if id ~= nil and (type(id) ~= "string" or id == "") then
        return answer(422, "invalid_envelope")
    end

    local test = env.test
    if test ~= nil and type(test) ~= "boolean" then
        return answer(422, "invalid_envelope")
    end

    if (exclude_re and re_find(name, exclude_re, "jo"))
       or (include_re and not re_find(name, include_re, "jo"))
    then
        return answer(200, "filtered", ngx.INFO)
    end

    -- accepted: on to the content handler
end


return _M
