-- wrk script for scripts/bench: POSTs a signed Teachfloor event.
--
--   wrk ... -s bench/wrk-post.lua URL -- BODY_FILE SIGNATURE
--       the same body and signature on every request
--   wrk ... -s bench/wrk-post.lua URL -- BODY_FILE - SECRET unique [FIRST [KEYS]]
--       a distinct event per request (the member id "mem_abc123" becomes
--       "m_00000001", same length), signed here with libcrypto's HMAC (wrk
--       links it): for gates that deduplicate; use one wrk thread (-t1),
--       and another FIRST (the first number) for each run against one nginx;
--       with KEYS, an X-Key header cycles over KEYS values ("k0", "k1", ...)
--       for a rate-limit zone keyed on it
--
-- Any answer but 2xx shows in wrk's "Non-2xx or 3xx responses" line, which
-- scripts/bench checks.

local body, sig, secret, unique

local function slurp(path)
    local f = assert(io.open(path, "rb"))
    local data = f:read("*a")
    f:close()
    return data
end

function init(args)
    body = slurp(assert(args[1], "wrk-post.lua: no body file"))
    sig = args[2]
    secret = args[3]
    unique = args[4] == "unique"

    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/json"

    if not unique then
        wrk.body = body
        wrk.headers["Teachfloor-Signature"] = assert(sig, "wrk-post.lua: no signature")
        return
    end

    assert(secret, "wrk-post.lua: unique needs a secret")
    assert(body:find('"mem_abc123"', 1, true), 'wrk-post.lua: no "mem_abc123"')

    local ffi = require "ffi"
    ffi.cdef [[
        const void *EVP_sha256(void);
        unsigned char *HMAC(const void *md, const void *key, int key_len,
                            const unsigned char *d, size_t n,
                            unsigned char *md_out, unsigned int *md_len);
    ]]

    local md = ffi.new("unsigned char[32]")
    local mdlen = ffi.new("unsigned int[1]")
    local evp = ffi.C.EVP_sha256()
    local n = tonumber(args[5] or "0")
    local keys = tonumber(args[6] or "")

    request = function()
        n = n + 1
        local b = body:gsub('"mem_abc123"',
                            string.format('"m_%08d"', n % 100000000), 1)
        ffi.C.HMAC(evp, secret, #secret, b, #b, md, mdlen)
        local hex = {}
        for i = 0, 31 do
            hex[i + 1] = string.format("%02x", md[i])
        end
        local headers = { ["Teachfloor-Signature"] = table.concat(hex) }
        if keys then
            headers["X-Key"] = "k" .. (n % keys)
        end
        return wrk.format(nil, nil, headers, b)
    end
end
