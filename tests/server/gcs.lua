-- Lua side of the local GCS stand-in (see docs/server.md).
--
-- Design: every API request enters M.api() (content phase). It applies the
-- shaping knobs, resolves the object, maybe injects a fault, and then either
-- answers itself (metadata JSON, errors, faults) or ngx.exec()s into the
-- internal location /_gcs_file so that nginx's static module sends the bytes
-- (sendfile, native Range/ETag/If-Match). Lua never copies object bytes on the
-- normal path; only the fault paths stream the file from Lua.
--
-- Anything the internal location needs must travel in nginx variables
-- ($gcs_path, $gcs_gen, $gcs_hash ...): ngx.exec() throws ngx.ctx away.

local ffi = require("ffi")
local bit = require("bit")

local M = {}

local state = ngx.shared.gcs_state    -- knobs ("cfg:*") and counters
local hashes = ngx.shared.gcs_hashes  -- "path\0generation" -> "crc,md5"

local DATA          -- bucket root; set in init() (master), inherited by workers
local STATE         -- state dir: token_pubkey.pem lives there
local PROFILE

local PROFILES = {
    gcs      = { ttfb_ms = 38, rate = 220 * 1024 * 1024 },
    unshaped = { ttfb_ms = 0,  rate = 0 },
}

-- Knob defaults that do not depend on the profile.
local FAULT_DEFAULTS = {
    list_max = 1000,
    fault_status = 503, fault_retry_after = 0, fault_ratio = 0,
    fault_kind = "status", fault_match = "", fault_on = "media",
    cut_at = -1, stall_ms = 2000, seed = 0, gzip_names = "", redirect_host = "",
    long_extra = 1024, long_length = "true",
    -- A server's quirks: see docs/server.md, "Quirks".
    http_etag = "nginx", http_last_modified = 1, content_type = "application/octet-stream",
    meta_size = "", list_extra = 0, list_extra_name = "",
    fault_from = -1, zonal_buckets = "",
}

-- Credentials knobs (see token(), metadata() and the gate in api()).
local AUTH_DEFAULTS = {
    require_token = 0, token_ttl = 3600, fixed_token = "", token_iss = "",
    client_id = "test-client-id", client_secret = "test-client-secret",
    refresh_token = "test-refresh-token", require_user_project = "",
}
local AUTH_KNOBS = { "require_token", "token_ttl", "fixed_token", "token_iss", "client_id",
                     "client_secret", "refresh_token", "require_user_project" }
local AUTH_COUNTERS = { "tokens_issued", "metadata_tokens", "auth_failures", "token_rejects" }

local FAULT_KINDS = { status = true, cut = true, stall = true, reset = true, long = true,
                      redirect = true }
local REDIRECT_CODES = { ["301"] = true, ["302"] = true, ["303"] = true, ["307"] = true,
                         ["308"] = true }
local FAULT_ON = { media = true, meta = true, all = true }
-- What the "long" fault's Content-Length says: the true (longer) length,
-- the length asked (the extra bytes then lie past it), or none (chunked).
local LONG_LENGTHS = { ["true"] = true, asked = true, none = true }
-- What /http's ETag is: nginx's own (strong), none, nginx's made weak
-- (W/"..."), or nginx's behind 150 more bytes (it still changes with the file).
local HTTP_ETAGS = { nginx = true, none = true, weak = true, long = true }
local CHUNK = 1024 * 1024 -- hashing read size
local SEND_CHUNK = 64 * 1024

ffi.cdef [[
typedef struct {             /* struct stat, x86_64 Linux glibc */
    unsigned long st_dev, st_ino, st_nlink;
    unsigned int  st_mode, st_uid, st_gid;
    int           gcs_pad0;
    unsigned long st_rdev;
    long          st_size, st_blksize, st_blocks;
    long          st_atime, st_atime_nsec;
    long          st_mtime, st_mtime_nsec;
    long          st_ctime, st_ctime_nsec;
    long          gcs_unused[3];
} gcs_stat_t;
int  stat(const char *path, gcs_stat_t *buf);
int  open(const char *path, int flags, ...);
long read(int fd, void *buf, unsigned long count);
int  close(int fd);

typedef struct { unsigned int A, B, C, D, Nl, Nh, data[16], num; } gcs_md5_ctx;
int MD5_Init(gcs_md5_ctx *c);
int MD5_Update(gcs_md5_ctx *c, const void *data, size_t len);
int MD5_Final(unsigned char *md, gcs_md5_ctx *c);

void *BIO_new_mem_buf(const void *buf, int len);
int BIO_free(void *a);
void *PEM_read_bio_PUBKEY(void *bp, void **x, void *cb, void *u);
void EVP_PKEY_free(void *pkey);
void *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(void *ctx);
const void *EVP_sha256(void);
int EVP_DigestVerifyInit(void *ctx, void **pctx, const void *type, void *e, void *pkey);
int EVP_DigestVerify(void *ctx, const unsigned char *sig, size_t siglen,
                     const unsigned char *tbs, size_t tbslen);
unsigned int crc32_iscsi(unsigned char *buf, int len, unsigned int init_crc);

typedef struct gcs_dir gcs_dir;
typedef struct {             /* struct dirent, x86_64 Linux glibc */
    unsigned long d_ino;
    long          d_off;
    unsigned short d_reclen;
    unsigned char d_type;
    char          d_name[256];
} gcs_dirent_t;
gcs_dir *opendir(const char *name);
gcs_dirent_t *readdir(gcs_dir *dir);
int closedir(gcs_dir *dir);
]]

local C = ffi.C

---------------------------------------------------------------------------
-- Files

local stbuf = ffi.new("gcs_stat_t")

-- The one place that knows about struct stat. Returns nil unless `path` is a
-- regular file. The generation is the mtime in microseconds times 1000 plus
-- the inode mod 1000: it changes on an in-place overwrite (new mtime) and on
-- write-temp-then-rename even when the mtime was preserved (new inode), and
-- still fits an int64 like GCS generations.
local function file_info(path)
    assert(ffi.os == "Linux" and ffi.arch == "x64", "gcs.lua: stat() layout is x86_64 Linux only")
    if C.stat(path, stbuf) ~= 0 then return nil end
    if bit.band(stbuf.st_mode, 0xF000) ~= 0x8000 then return nil end -- S_ISREG
    local sec, nsec = tonumber(stbuf.st_mtime), tonumber(stbuf.st_mtime_nsec)
    local gen = (ffi.cast("uint64_t", sec) * 1000000 + math.floor(nsec / 1000)) * 1000
                + stbuf.st_ino % 1000
    return {
        size = tonumber(stbuf.st_size),
        gen = tostring(gen):match("^%d+"),  -- drop LuaJIT's "ULL" suffix
        mtime = sec, mtime_nsec = nsec,
    }
end

local libcrypto, libisal
local hbuf

local function load_libs()
    if libcrypto then return end
    local ok
    ok, libcrypto = pcall(ffi.load, "libcrypto.so.3")
    if not ok then libcrypto = ffi.load("crypto") end
    ok, libisal = pcall(ffi.load, "libisal.so.2")
    if not ok then libisal = ffi.load("isal") end
    hbuf = ffi.new("unsigned char[?]", CHUNK)
end

local function be32(n)
    return string.char(bit.band(bit.rshift(n, 24), 255), bit.band(bit.rshift(n, 16), 255),
                       bit.band(bit.rshift(n, 8), 255), bit.band(n, 255))
end

-- One pass over the file for both hashes. Blocks this worker while it runs
-- (about 1-2 s per GiB, MD5 dominates); results are cached per generation.
local function compute_hashes(path)
    load_libs()
    local fd = C.open(path, 0) -- O_RDONLY
    if fd < 0 then return nil end
    local ctx = ffi.new("gcs_md5_ctx")
    libcrypto.MD5_Init(ctx)
    -- ISA-L's crc32_iscsi neither pre- nor post-inverts: start from
    -- 0xFFFFFFFF, chain the raw value, invert at the end = standard CRC32C.
    local crc = 0xFFFFFFFF
    while true do
        local n = tonumber(C.read(fd, hbuf, CHUNK))
        if n < 0 then C.close(fd); return nil end
        if n == 0 then break end
        libcrypto.MD5_Update(ctx, hbuf, n)
        crc = libisal.crc32_iscsi(hbuf, n, crc)
    end
    C.close(fd)
    local md = ffi.new("unsigned char[16]")
    libcrypto.MD5_Final(md, ctx)
    return ngx.encode_base64(be32(bit.bnot(crc))), ngx.encode_base64(ffi.string(md, 16))
end

-- Returns crc32c_b64, md5_b64 for the file as of generation info.gen.
local function get_hashes(path, info)
    local key = path .. "\0" .. info.gen
    local v = hashes:get(key)
    if v then return v:match("^([^,]*),(.*)$") end
    local crc, md5 = compute_hashes(path)
    if not crc then return nil end
    -- Only cache if the file did not change while we read it.
    local after = file_info(path)
    if after and after.gen == info.gen then hashes:set(key, crc .. "," .. md5) end
    return crc, md5
end

---------------------------------------------------------------------------
-- Small helpers

local function unescape(s) -- percent-decoding only; "+" stays "+"
    return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

local function escape(s) -- encode everything but RFC 3986 unreserved characters
    return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

-- An ETag ("...") made 150 bytes longer, still changing with the file.
local function long_etag(etag)
    return '"' .. string.rep("e", 150) .. etag:sub(2)
end

local function json_str(s)
    return '"' .. s:gsub('[%c"\\]', function(c)
        if c == '"' or c == "\\" then return "\\" .. c end
        return string.format("\\u%04x", c:byte())
    end) .. '"'
end

-- Encodes a flat list of {key, value} pairs in order; nested tables are lists
-- of pairs too. Numbers and booleans stay bare, strings are quoted.
local function json_obj(pairs_)
    local out = {}
    for _, kv in ipairs(pairs_) do
        local k, v = kv[1], kv[2]
        local enc
        if v == nil then -- a field this object does not have
        elseif type(v) == "table" then enc = json_obj(v)
        elseif type(v) == "string" then enc = json_str(v)
        else enc = tostring(v) end
        if enc then out[#out + 1] = json_str(k) .. ":" .. enc end
    end
    return "{" .. table.concat(out, ",") .. "}"
end

local REASONS = {
    [400] = "invalid", [401] = "authError", [404] = "notFound", [405] = "methodNotAllowed",
    [416] = "requestedRangeNotSatisfiable", [429] = "rateLimitExceeded",
    [500] = "internalError", [502] = "badGateway", [503] = "backendError",
}

local function reply(status, body, ctype)
    ngx.status = status
    ngx.header["Content-Type"] = ctype or "application/json; charset=UTF-8"
    ngx.header["Content-Length"] = #body
    if ngx.req.get_method() ~= "HEAD" then ngx.print(body) end
end

-- GCS's error shape: {"error":{"code":..,"message":..,"errors":[{..}]}}
local function reply_error(status, message)
    local reason = REASONS[status] or "error"
    local body = '{"error":{"code":' .. status .. ',"message":' .. json_str(message)
        .. ',"errors":[{"message":' .. json_str(message)
        .. ',"domain":"global","reason":"' .. reason .. '"}]}}'
    reply(status, body)
end

---------------------------------------------------------------------------
-- Knobs and counters

local KNOBS = { "ttfb_ms", "rate", "list_max", "fault_status", "fault_retry_after", "fault_ratio",
                "fault_kind", "fault_match", "fault_on", "cut_at", "stall_ms", "seed", "gzip_names",
                "redirect_host", "long_extra", "long_length", "http_etag", "http_last_modified",
                "content_type", "meta_size", "list_extra", "list_extra_name",
                "zonal_buckets" }

KNOBS[#KNOBS + 1] = "fault_from"
for _, k in ipairs(AUTH_KNOBS) do KNOBS[#KNOBS + 1] = k end

local function apply_defaults()
    for k, v in pairs(FAULT_DEFAULTS) do state:set("cfg:" .. k, v) end
    for k, v in pairs(AUTH_DEFAULTS) do state:set("cfg:" .. k, v) end
    for k, v in pairs(PROFILES[PROFILE]) do state:set("cfg:" .. k, v) end
    state:set("fault_next", 0)
end

local COUNTERS = { "requests", "meta", "media", "http", "list", "redirect", "other", "bytes",
                   "draws", "fault:status", "fault:cut", "fault:stall", "fault:reset",
                   "fault:long", "fault:redirect" }

for _, k in ipairs(AUTH_COUNTERS) do COUNTERS[#COUNTERS + 1] = k end

local function clear_counters()
    for _, k in ipairs(COUNTERS) do state:set(k, 0) end
end

local function config()
    local cfg = {}
    for _, k in ipairs(KNOBS) do cfg[k] = state:get("cfg:" .. k) end
    return cfg
end

local function count(key, n)
    state:incr(key, n or 1, 0)
end

-- Deterministic per (seed, draw number): two workers share the draw counter,
-- so a given seed yields the same sequence of decisions across runs.
local function draw(seed)
    local n = state:incr("draws", 1, 0)
    return tonumber(ngx.md5(seed .. ":" .. n):sub(1, 8), 16) / 4294967296
end

function M.init(opts)
    assert(PROFILES[opts.profile], "unknown profile " .. tostring(opts.profile))
    DATA, PROFILE, STATE = opts.data, opts.profile, opts.state
    apply_defaults()
    clear_counters()
end

---------------------------------------------------------------------------
-- Request parsing

-- Object names may hold anything except NUL, but no "." or ".." segment may
-- let a name climb out of (or alias inside) its bucket directory.
local function safe_name(name)
    if name == "" or name:find("\0", 1, true) then return false end
    for seg in (name .. "/"):gmatch("([^/]*)/") do
        if seg == ".." or seg == "." then return false end
    end
    return true
end

-- -> {kind = "meta"|"media"|"http", bucket, name} or nil for unknown paths.
-- The raw request URI is decoded here (not nginx's $uri) so that "%2F" and
-- "+" mean exactly what the client encoded.
local function parse_request()
    local raw = ngx.var.request_uri:match("^[^?]*")
    local req
    local lb = raw:match("^/storage/v1/b/([^/]+)/o/?$")
    if lb then -- objects.list
        lb = unescape(lb)
        return { kind = "list", bucket = lb, name = "", class = "meta",
                 valid = lb:match("^[%w_%-][%w_%.%-]*$") ~= nil }
    end
    local code, hop, rest = raw:match("^/redirect/(%d+)/([%w%-]+)/(.+)$")
    if code then
        return { kind = "redirect", code = code, hop = hop, rest = rest, class = "redirect",
                 name = rest, valid = REDIRECT_CODES[code] ~= nil }
    end
    local b, o = raw:match("^/http/([^/]+)/(.+)$")
    if b then
        req = { kind = "http", bucket = b, name = o }
    else
        b, o = raw:match("^/storage/v1/b/([^/]+)/o/(.+)$")
        if not b then b, o = raw:match("^/download/storage/v1/b/([^/]+)/o/(.+)$") end
        if not b then return nil end
        local alt = ngx.var.arg_alt
        req = { kind = (alt == "media") and "media" or "meta", bucket = b, name = o }
    end
    req.bucket, req.name = unescape(req.bucket), unescape(req.name)
    req.valid = req.bucket:match("^[%w_%-][%w_%.%-]*$") ~= nil and safe_name(req.name)
    req.class = (req.kind == "meta") and "meta" or "media"
    return req
end

-- Range header -> first, last (inclusive); nil for none/unsupported;
-- "unsat" when it starts at or after the end.
local function parse_range(h, size)
    if not h then return nil end
    local a, b = h:match("^bytes=(%d*)-(%d*)$")
    if not a or (a == "" and b == "") then return nil end
    if a == "" then
        local n = tonumber(b)
        if n == 0 or size == 0 then return "unsat" end
        return math.max(0, size - n), size - 1
    end
    local first, last = tonumber(a), tonumber(b)
    if last and last < first then return nil end
    if first >= size then return "unsat" end
    return first, math.min(last or size - 1, size - 1)
end

---------------------------------------------------------------------------
-- Faults

local function decide_fault(cfg, req, info)
    if cfg.fault_on ~= "all" and cfg.fault_on ~= req.class then return nil end
    if cfg.fault_match ~= "" and not req.name:find(cfg.fault_match, 1, true) then return nil end
    if cfg.fault_from >= 0 then -- only ranges starting at or past it
        local first = tonumber((ngx.var.http_range or ""):match("^bytes=(%d+)%-"))
        if not first or first < cfg.fault_from then return nil end
    end
    -- Body-mangling faults need an object to mangle; status/reset do not.
    if not info and cfg.fault_kind ~= "status" and cfg.fault_kind ~= "reset" then return nil end
    if (state:get("fault_next") or 0) > 0 then
        local left = state:incr("fault_next", -1)
        if left and left >= 0 then return cfg.fault_kind end
    end
    if cfg.fault_ratio > 0 and draw(cfg.seed) < cfg.fault_ratio then return cfg.fault_kind end
    return nil
end

local function send_bytes(read, off, n)
    local stop = off + n
    while off < stop do
        local piece = read(off, math.min(SEND_CHUNK, stop - off))
        if piece == "" then break end
        ngx.print(piece)
        ngx.flush(true) -- bound memory and make a later cut land where we said
        off = off + #piece
    end
end

local metadata_json -- defined below

-- Where a redirect points: this server under the redirect_host knob's
-- host:port if set, else under the name the client used (or, for the
-- "redirect" fault, the other of 127.0.0.1 and localhost: another origin
-- with the same files).
local function redirect_base(cfg, other)
    local host = ngx.var.http_host or ("127.0.0.1:" .. ngx.var.server_port)
    if cfg.redirect_host ~= "" then
        host = cfg.redirect_host
    elseif other then
        local h, port = host:match("^([^:]+)(.*)$")
        host = (h == "localhost" and "127.0.0.1" or "localhost") .. port
    end
    return ngx.var.scheme .. "://" .. host
end

local function reply_redirect(code, location)
    ngx.header["Location"] = location
    -- A decoy: a client that pinned a redirect's ETag would pin this.
    ngx.header["ETag"] = '"redirect-decoy"'
    reply(code, "This resource has moved.\n", "text/plain")
end

-- /redirect/{code}/{n}/{path}: `code` to /redirect/{code}/{n-1}/{path},
-- the last one to /{path} (query string kept): n redirects in a row.
-- /redirect/{code}/loop/{path} and .../loop-b/{path} point at each other.
local function redirector(cfg, req)
    local q = ngx.var.args and ("?" .. ngx.var.args) or ""
    local base, to = redirect_base(cfg, false), nil
    local n = tonumber(req.hop)
    if req.hop == "loop" or req.hop == "loop-b" then
        local other = req.hop == "loop" and "loop-b" or "loop"
        to = "/redirect/" .. req.code .. "/" .. other .. "/" .. req.rest
    elseif n and n > 1 then
        to = "/redirect/" .. req.code .. "/" .. (n - 1) .. "/" .. req.rest
    elseif n == 1 then
        to = "/" .. req.rest
    else
        return reply_error(400, "bad redirect hop: " .. req.hop)
    end
    return reply_redirect(tonumber(req.code), base .. to .. q)
end

local function inject(kind, cfg, req, info, path)
    ngx.var.gcs_fault = kind
    count("fault:" .. kind)
    if kind == "reset" then
        return ngx.exit(444) -- nginx's "close without a response"
    end
    if kind == "redirect" then -- the same URI on another origin
        return reply_redirect(307, redirect_base(cfg, true) .. ngx.var.request_uri)
    end
    if kind == "status" then
        if cfg.fault_retry_after > 0 then ngx.header["Retry-After"] = cfg.fault_retry_after end
        return reply_error(cfg.fault_status, "Injected fault (status " .. cfg.fault_status .. ")")
    end

    -- cut / stall / long: build the response the client asked for, then mangle it.
    local status, total, read, file = 200, nil, nil, nil
    if req.kind == "meta" then
        local body = metadata_json(req, info, path)
        ngx.header["Content-Type"] = "application/json; charset=UTF-8"
        total = #body
        read = function(off, n) return body:sub(off + 1, off + n) end
    else
        local first, last = parse_range(ngx.var.http_range, info.size)
        if first == "unsat" then
            ngx.header["Content-Range"] = "bytes */" .. info.size
            return reply_error(416, "Requested range not satisfiable")
        end
        file = io.open(path, "rb")
        if not file then return reply_error(404, "No such object: " .. req.bucket .. "/" .. req.name) end
        local base = 0
        if first then
            status, base, total = 206, first, last - first + 1
            ngx.header["Content-Range"] = string.format("bytes %d-%d/%d", first, last, info.size)
        else
            total = info.size
        end
        ngx.header["Content-Type"] = "application/octet-stream"
        ngx.header["x-goog-generation"] = info.gen
        read = function(off, n)
            file:seek("set", base + off)
            return file:read(n) or ""
        end
    end

    local extra = (kind == "long") and cfg.long_extra or 0
    ngx.status = status
    if kind ~= "long" or cfg.long_length == "true" then
        ngx.header["Content-Length"] = total + extra
    elseif cfg.long_length == "asked" then
        ngx.header["Content-Length"] = total
    else
        ngx.header["Content-Length"] = nil -- HTTP/1.1: chunked
    end
    ngx.send_headers()
    local part = (cfg.cut_at >= 0) and math.min(cfg.cut_at, total) or math.floor(total / 2)
    send_bytes(read, 0, part)
    ngx.flush(true)
    if kind == "cut" then
        if file then file:close() end
        return ngx.exit(ngx.ERROR) -- aborts the request: nginx closes the connection
    end
    if kind == "stall" then ngx.sleep(cfg.stall_ms / 1000) end
    send_bytes(read, part, total - part)
    if kind == "long" then
        -- Bytes beyond what was asked: the file's next bytes if any, then filler.
        local more = read(total, extra)
        ngx.print(more, string.rep("X", extra - #more))
    end
    if file then file:close() end
end

---------------------------------------------------------------------------
-- Handlers

local function rfc3339(sec, nsec)
    return os.date("!%Y-%m-%dT%H:%M:%S", sec) .. string.format(".%03dZ", math.floor(nsec / 1e6))
end

-- Whether item is one of the comma-separated list (a knob's value; nil:
-- none).
local function listed(list, item)
    for x in string.gmatch(list or "", "[^,]+") do
        if x == item then return true end
    end
    return false
end

-- Objects stored gzip-compressed with Content-Encoding: gzip in their
-- metadata: the gzip_names knob lists their names, comma-separated.
local function gzip_encoded(cfg, name)
    return listed(cfg.gzip_names, name)
end

-- GCS's decompressive transcoding: a gzip-encoded object asked for without
-- Accept-Encoding: gzip is served decompressed, whole (Range ignored),
-- without Content-Length.
local function serve_transcoded(info, path)
    local q = "'" .. path:gsub("'", "'\\''") .. "'"
    local p = io.popen("gzip -dc < " .. q .. " 2>/dev/null")
    local body = p and p:read("*a") or ""
    if p then p:close() end
    ngx.status = 200
    ngx.header["Content-Type"] = "application/octet-stream"
    ngx.header["x-goog-generation"] = info.gen
    ngx.header["x-goog-stored-content-encoding"] = "gzip"
    ngx.header["Content-Length"] = nil
    ngx.print(body)
end

-- Zonal (Rapid Storage) buckets, named in the zonal_buckets knob
-- (comma-separated): their objects have storage class RAPID and, as on GCS,
-- no JSON media reads (HTTP 400): their data is served over gRPC
-- (tests/server/zonal-server).
local function zonal_bucket(cfg, bucket)
    return listed(cfg.zonal_buckets, bucket)
end

metadata_json = function(req, info, path)
    local cfg = config()
    local crc, md5 = get_hashes(path, info)
    local base = ngx.var.scheme .. "://" .. (ngx.var.http_host or ("127.0.0.1:" .. ngx.var.server_port))
    local ename = escape(req.name)
    local t = rfc3339(info.mtime, info.mtime_nsec)
    return json_obj({
        { "kind", "storage#object" },
        { "id", req.bucket .. "/" .. req.name .. "/" .. info.gen },
        { "selfLink", base .. "/storage/v1/b/" .. req.bucket .. "/o/" .. ename },
        { "mediaLink", base .. "/download/storage/v1/b/" .. req.bucket .. "/o/" .. ename
                       .. "?generation=" .. info.gen .. "&alt=media" },
        { "name", req.name },
        { "bucket", req.bucket },
        { "generation", info.gen },
        { "metageneration", "1" },
        { "contentType", cfg.content_type },
        { "contentEncoding", gzip_encoded(cfg, req.name) and "gzip" or nil },
        { "storageClass", zonal_bucket(cfg, req.bucket) and "RAPID" or "STANDARD" },
        { "size", cfg.meta_size ~= "" and cfg.meta_size or tostring(info.size) },
        { "md5Hash", md5 or "" },
        { "crc32c", crc or "" },
        { "etag", ngx.encode_base64(info.gen) },
        { "timeCreated", t },
        { "updated", t },
    }) .. "\n"
end

function M.api()
    local req = parse_request()
    if not req then
        ngx.var.gcs_kind = "other"
        count("requests"); count("other")
        return reply_error(404, "Not Found")
    end
    ngx.var.gcs_kind = req.kind
    count("requests"); count(req.kind)

    local method = ngx.req.get_method()
    if method ~= "GET" and method ~= "HEAD" then
        return reply_error(405, "Method not allowed: " .. method)
    end

    local cfg = config()
    if req.kind == "redirect" then
        if not req.valid then return reply_error(400, "bad redirect status: " .. req.code) end
        return redirector(cfg, req)
    end
    -- Credentials gate: a bearer token this server issued (and did not
    -- revoke or let expire), or the fixed_token knob.
    if cfg.require_token == 1 then
        local t = (ngx.var.http_authorization or ""):match("^Bearer (%S+)$")
        if not t or not (state:get("tok:" .. t)
                         or (cfg.fixed_token ~= "" and t == cfg.fixed_token)) then
            count("auth_failures")
            ngx.header["WWW-Authenticate"] = 'Bearer realm="gcs-test"'
            return reply_error(401, "Invalid Credentials")
        end
    end
    if cfg.require_user_project ~= "" and ngx.var.arg_userProject ~= cfg.require_user_project then
        return reply_error(400, "Bucket is a requester pays bucket but no user project provided.")
    end
    -- $limit_rate is a request field, so it still applies after ngx.exec().
    if cfg.rate > 0 then ngx.var.limit_rate = cfg.rate end
    if cfg.ttfb_ms > 0 then ngx.sleep(cfg.ttfb_ms / 1000) end

    if not req.valid then
        return reply_error(400, "Invalid bucket or object name")
    end
    if req.kind == "list" then
        local fault = decide_fault(cfg, req, nil)
        if fault then return inject(fault, cfg, req, nil, nil) end
        return M.list(req, cfg)
    end
    local path = DATA .. "/" .. req.bucket .. "/" .. req.name
    local info = file_info(path)

    local fault = decide_fault(cfg, req, info)
    if fault then return inject(fault, cfg, req, info, path) end

    local want = ngx.var.arg_generation
    if not info or (want and want ~= info.gen) then
        return reply_error(404, "No such object: " .. req.bucket .. "/" .. req.name)
    end

    if req.kind == "meta" then
        return reply(200, metadata_json(req, info, path))
    end

    if req.kind == "media" and zonal_bucket(cfg, req.bucket) then
        return reply_error(400, "Zonal objects only support gRPC API")
    end
    if req.kind == "media" and gzip_encoded(cfg, req.name) then
        if not (ngx.var.http_accept_encoding or ""):find("gzip", 1, true) then
            return serve_transcoded(info, path)
        end
        ngx.var.gcs_encoding = "gzip" -- served as stored, marked so
        ngx.var.gcs_stored_encoding = "gzip"
    end
    if cfg.http_etag == "long" and ngx.var.http_if_match then
        -- nginx checks If-Match before the header filter lengthens its
        -- ETag: the long one is checked here, strictly, as nginx would.
        local want = long_etag(string.format('"%x-%x"', info.mtime, info.size))
        if ngx.var.http_if_match ~= want then return reply_error(412, "Precondition Failed") end
        ngx.req.clear_header("If-Match")
    end
    ngx.var.gcs_path = path
    ngx.var.gcs_gen = info.gen
    -- Whole-object hashes only on full JSON-API reads: hashing costs a pass
    -- over the file, which a ranged read (or the plain /http path) should not pay.
    if req.kind == "media" and not ngx.var.http_range then
        local crc, md5 = get_hashes(path, info)
        if crc then ngx.var.gcs_hash = "crc32c=" .. crc .. ",md5=" .. md5 end
    end
    return ngx.exec("/_gcs_file")
end

---------------------------------------------------------------------------
-- objects.list

local function is_dir(path)
    if C.stat(path, stbuf) ~= 0 then return false end
    return bit.band(stbuf.st_mode, 0xF000) == 0x4000 -- S_ISDIR
end

-- Every regular file under dir, as {name = "rel/path", info = file_info}.
-- ts_put's and gcs-server's temporary files are not objects yet: skipped.
local function walk(dir, rel, out)
    local d = C.opendir(dir)
    if d == nil then return end
    while true do
        local e = C.readdir(d)
        if e == nil then break end
        local name = ffi.string(e.d_name)
        if name ~= "." and name ~= ".." then
            local full = dir .. "/" .. name
            local r = (rel == "") and name or (rel .. "/" .. name)
            local info = file_info(full)
            if info then out[#out + 1] = { name = r, info = info, path = full }
            elseif is_dir(full) then walk(full, r, out) end
        end
    end
    C.closedir(d)
end

-- GCS semantics: names are sorted bytewise; with a delimiter, a name whose
-- rest (after the prefix) holds the delimiter is folded into one prefix
-- "prefix..delimiter" (listed once, in "prefixes"); a page holds at most
-- maxResults entries, items and prefixes together; nextPageToken is opaque
-- (here base64 of the last entry) and the next page starts after it.
function M.list(req, cfg)
    local root = DATA .. "/" .. req.bucket
    if not is_dir(root) then
        return reply_error(404, "The specified bucket does not exist.")
    end
    local args = ngx.req.get_uri_args()
    local function one(v) if type(v) == "table" then return v[1] end return v end
    local prefix = one(args.prefix) or ""
    local delim = one(args.delimiter)
    if delim == "" or delim == true then delim = nil end
    if prefix == true then prefix = "" end
    local max = tonumber(one(args.maxResults)) or 1000
    if max < 1 then return reply_error(400, "Invalid maxResults") end
    max = math.min(max, 1000, cfg.list_max)
    local after = one(args.pageToken)
    if after then
        after = ngx.decode_base64(after)
        if not after then return reply_error(400, "Invalid pageToken") end
    end

    -- Only the directory the prefix's last '/' names can hold matches.
    local pdir = prefix:match("^(.*)/") or ""
    local files = {}
    if pdir == "" then walk(root, "", files)
    elseif safe_name(pdir) and is_dir(root .. "/" .. pdir) then walk(root .. "/" .. pdir, pdir, files) end
    table.sort(files, function(a, b) return a.name < b.name end)

    local entries, last_prefix = {}, nil
    for _, f in ipairs(files) do
        if f.name:sub(1, #prefix) == prefix then
            local rest = f.name:sub(#prefix + 1)
            local k = delim and rest:find(delim, 1, true)
            if k then
                local p = prefix .. rest:sub(1, k + #delim - 1)
                if p ~= last_prefix then
                    entries[#entries + 1] = { key = p, prefix = true }
                    last_prefix = p
                end
            else
                entries[#entries + 1] = { key = f.name, file = f }
            end
        end
    end

    local items, prefixes, n, next_token, entries_last = {}, {}, 0, nil, nil
    if cfg.list_extra == 1 and not after and #files > 0 then
        -- A hostile server's item, whatever its name (empty too), out of
        -- order and outside the prefix, with the first file's metadata.
        local body = metadata_json({ bucket = req.bucket, name = cfg.list_extra_name },
                                   files[1].info, files[1].path)
        items[#items + 1] = body:gsub("\n$", "")
    end
    for _, e in ipairs(entries) do
        if not after or e.key > after then
            if n == max then next_token = ngx.encode_base64(entries_last); break end
            n = n + 1
            entries_last = e.key
            if e.prefix then prefixes[#prefixes + 1] = json_str(e.key)
            else
                local body = metadata_json({ bucket = req.bucket, name = e.key }, e.file.info, e.file.path)
                items[#items + 1] = body:gsub("\n$", "")
            end
        end
    end
    local out = { '{"kind":"storage#objects"' }
    if next_token then out[#out + 1] = ',"nextPageToken":' .. json_str(next_token) end
    if #prefixes > 0 then out[#out + 1] = ',"prefixes":[' .. table.concat(prefixes, ",") .. "]" end
    if #items > 0 then out[#out + 1] = ',"items":[' .. table.concat(items, ",") .. "]" end
    out[#out + 1] = "}\n"
    return reply(200, table.concat(out))
end

local function parse_rate(v)
    local n, suffix = v:match("^(%d+)([kKmMgG]?)$")
    if not n then return nil end
    local mult = ({ [""] = 1, k = 1024, m = 1024 ^ 2, g = 1024 ^ 3 })[suffix:lower()]
    return tonumber(n) * mult
end

local function num_in(lo, hi, integer)
    return function(v)
        local n = tonumber(v)
        if not n or n < lo or n > hi or (integer and n ~= math.floor(n)) then return nil end
        return n
    end
end

local PARSERS = {
    ttfb_ms = num_in(0, 600000),
    list_max = num_in(1, 1000, true),
    rate = parse_rate,
    fault_status = num_in(100, 599, true),
    fault_retry_after = num_in(0, 86400, true),
    fault_ratio = num_in(0, 1),
    fault_next = num_in(0, 1e12, true),
    fault_kind = function(v) return FAULT_KINDS[v] and v or nil end,
    fault_match = function(v) return v end,
    fault_from = num_in(-1, 1e15, true),
    fault_on = function(v) return FAULT_ON[v] and v or nil end,
    cut_at = num_in(-1, 1e15, true),
    stall_ms = num_in(0, 600000),
    seed = num_in(0, 1e15, true),
    gzip_names = function(v) return v end,
    zonal_buckets = function(v) return v end,
    redirect_host = function(v) return v:match("^[%w%.%-]*:?%d*$") and v or nil end,
    long_extra = num_in(1, 64 * 1024 * 1024, true),
    long_length = function(v) return LONG_LENGTHS[v] and v or nil end,
    http_etag = function(v) return HTTP_ETAGS[v] and v or nil end,
    http_last_modified = num_in(0, 1, true),
    content_type = function(v) return v end,
    meta_size = function(v) return (v == "" or v:match("^%d+$")) and v or nil end,
    list_extra = num_in(0, 1, true),
    list_extra_name = function(v) return v end,
    require_token = num_in(0, 1, true),
    token_ttl = num_in(1, 86400, true),
    fixed_token = function(v) return v end,
    token_iss = function(v) return v end,
    client_id = function(v) return v end,
    client_secret = function(v) return v end,
    refresh_token = function(v) return v end,
    require_user_project = function(v) return v end,
}

local function config_json()
    local cfg = config()
    local out = { { "profile", PROFILE } }
    for _, k in ipairs(KNOBS) do out[#out + 1] = { k, cfg[k] } end
    out[#out + 1] = { "fault_next", state:get("fault_next") or 0 }
    return json_obj(out) .. "\n"
end

local function stats_json()
    local function g(k) return state:get(k) or 0 end
    local faults, total = {}, 0
    for _, k in ipairs({ "status", "cut", "stall", "reset", "long", "redirect" }) do
        faults[#faults + 1] = { k, g("fault:" .. k) }
        total = total + g("fault:" .. k)
    end
    return json_obj({
        { "requests", g("requests") },
        { "metadata_requests", g("meta") },
        { "media_requests", g("media") },
        { "http_requests", g("http") },
        { "list_requests", g("list") },
        { "redirect_requests", g("redirect") },
        { "other_requests", g("other") },
        { "body_bytes_sent", g("bytes") },
        { "faults_total", total },
        { "tokens_issued", g("tokens_issued") },
        { "metadata_tokens", g("metadata_tokens") },
        { "auth_failures", g("auth_failures") },
        { "token_rejects", g("token_rejects") },
        { "faults", faults },
    }) .. "\n"
end

function M.control()
    local what = ngx.var.uri:match("^/_control/([%w_]+)$")
    if what == "config" then
        local args = ngx.req.get_uri_args()
        local parsed = {}
        -- Validate everything before changing anything.
        for k, v in pairs(args) do
            if not PARSERS[k] then return reply_error(400, "unknown knob: " .. k) end
            if type(v) ~= "string" then return reply_error(400, "knob needs one value: " .. k) end
            local val = PARSERS[k](v)
            if val == nil then return reply_error(400, "bad value for " .. k .. ": " .. v) end
            parsed[k] = val
        end
        for k, v in pairs(parsed) do
            if k == "fault_next" then state:set("fault_next", v)
            else state:set("cfg:" .. k, v) end
            if k == "seed" then state:set("draws", 0) end -- restart the sequence
        end
        return reply(200, config_json())
    elseif what == "reset" then
        apply_defaults()
        clear_counters()
        return reply(200, config_json())
    elseif what == "stats" then
        return reply(200, stats_json())
    elseif what == "revoke" then
        -- Every issued token stops working at once (the fixed one too).
        local n = 0
        for _, k in ipairs(state:get_keys(0)) do
            if k:sub(1, 4) == "tok:" then state:delete(k); n = n + 1 end
        end
        state:set("cfg:fixed_token", "")
        return reply(200, '{"revoked":' .. n .. '}\n')
    end
    return reply_error(404, "unknown control endpoint")
end

---------------------------------------------------------------------------
-- Credentials: token endpoint and metadata server stand-ins

local function b64url_decode(v)
    v = v:gsub("-", "+"):gsub("_", "/")
    local r = #v % 4
    if r == 1 then return nil end
    if r > 0 then v = v .. string.rep("=", 4 - r) end
    return ngx.decode_base64(v)
end

-- Checks an RS256 signature with the public key the test left in
-- STATE/token_pubkey.pem. Returns true or nil, why.
local function verify_rs256(signed, sig)
    load_libs()
    local f = io.open(STATE .. "/token_pubkey.pem", "rb")
    if not f then return nil, "no token_pubkey.pem in the state dir" end
    local pem = f:read("*a")
    f:close()
    local bio = libcrypto.BIO_new_mem_buf(pem, #pem)
    local key = libcrypto.PEM_read_bio_PUBKEY(bio, nil, nil, nil)
    libcrypto.BIO_free(bio)
    if key == nil then return nil, "unreadable public key" end
    local md = libcrypto.EVP_MD_CTX_new()
    local ok = libcrypto.EVP_DigestVerifyInit(md, nil, libcrypto.EVP_sha256(), nil, key) == 1
        and libcrypto.EVP_DigestVerify(md, sig, #sig, signed, #signed) == 1
    libcrypto.EVP_MD_CTX_free(md)
    libcrypto.EVP_PKEY_free(key)
    if not ok then return nil, "bad signature" end
    return true
end

local function claim_str(json, k) return json:match('"' .. k .. '"%s*:%s*"([^"]*)"') end
local function claim_num(json, k) return tonumber(json:match('"' .. k .. '"%s*:%s*(%d+)')) end

-- Checks a service-account assertion: RS256 signature and the claims
-- Google checks. Returns true or nil, why.
local function check_assertion(a, cfg)
    local h64, p64, s64 = (a or ""):match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]+)$")
    if not h64 then return nil, "assertion is not a JWT" end
    local header, claims, sig = b64url_decode(h64), b64url_decode(p64), b64url_decode(s64)
    if not header or not claims or not sig then return nil, "bad base64url" end
    if claim_str(header, "alg") ~= "RS256" then return nil, "alg is not RS256" end
    local ok, why = verify_rs256(h64 .. "." .. p64, sig)
    if not ok then return nil, why end
    local iss, scope, aud = claim_str(claims, "iss"), claim_str(claims, "scope"), claim_str(claims, "aud")
    local iat, exp = claim_num(claims, "iat"), claim_num(claims, "exp")
    local me = ngx.var.scheme .. "://" .. (ngx.var.http_host or "") .. "/token"
    local now = ngx.time()
    if not iss or (cfg.token_iss ~= "" and iss ~= cfg.token_iss) then return nil, "wrong iss" end
    if not scope or not scope:find("https://www.googleapis.com/auth/devstorage", 1, true) then
        return nil, "wrong scope"
    end
    if aud ~= me then return nil, "wrong aud (want " .. me .. ")" end
    if not iat or not exp or iat > now + 60 or iat < now - 600 then return nil, "bad iat" end
    if exp <= now or exp - iat > 3600 then return nil, "bad exp" end
    return true
end

local function issue_token(cfg, counter)
    count(counter)
    local n = state:incr("token_seq", 1, 0)
    local t = "ya29.test-" .. ngx.md5(ngx.now() .. ":" .. n .. ":" .. ngx.worker.pid())
    state:set("tok:" .. t, 1, cfg.token_ttl)
    return reply(200, json_obj({ { "access_token", t }, { "expires_in", cfg.token_ttl },
                                 { "token_type", "Bearer" } }) .. "\n")
end

local function oauth_error(status, err, desc)
    count("token_rejects")
    return reply(status, json_obj({ { "error", err }, { "error_description", desc } }) .. "\n")
end

-- POST /token: the OAuth endpoint. Grants: jwt-bearer (service-account
-- assertion, checked against STATE/token_pubkey.pem) and refresh_token
-- (client_id, client_secret, refresh_token must match the knobs).
function M.token()
    if ngx.req.get_method() ~= "POST" then return reply_error(405, "POST only") end
    ngx.req.read_body()
    local args = ngx.req.get_post_args()
    local cfg = config()
    local grant = args.grant_type
    if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer" then
        local ok, why = check_assertion(args.assertion, cfg)
        if not ok then return oauth_error(400, "invalid_grant", "Invalid JWT: " .. why) end
        return issue_token(cfg, "tokens_issued")
    elseif grant == "refresh_token" then
        if args.client_id ~= cfg.client_id or args.client_secret ~= cfg.client_secret then
            return oauth_error(401, "invalid_client", "The OAuth client was not found.")
        end
        if args.refresh_token ~= cfg.refresh_token then
            return oauth_error(400, "invalid_grant", "Token has been expired or revoked.")
        end
        return issue_token(cfg, "tokens_issued")
    end
    return oauth_error(400, "unsupported_grant_type", "Invalid grant_type")
end

-- GET /computeMetadata/v1/instance/service-accounts/default/token with
-- Metadata-Flavor: Google, as on a GCE VM.
function M.metadata()
    if ngx.var.uri ~= "/computeMetadata/v1/instance/service-accounts/default/token" then
        return reply(404, "Not Found\n", "text/plain")
    end
    if ngx.var.http_metadata_flavor ~= "Google" then
        return reply(403, "Missing Metadata-Flavor: Google header\n", "text/plain")
    end
    return issue_token(config(), "metadata_tokens")
end

-- The header filter of the bytes /http and media requests get
-- (/_gcs_file): the quirks of a server's validators and Content-Type. It
-- runs before nginx's own If-Match and If-Unmodified-Since checks, which
-- so see the headers as changed here, as a server that sent them would.
function M.file_headers()
    local cfg = config()
    local etag = ngx.header["ETag"]
    if cfg.http_etag == "none" then ngx.header["ETag"] = nil
    elseif etag and cfg.http_etag == "weak" then ngx.header["ETag"] = "W/" .. etag
    elseif etag and cfg.http_etag == "long" then ngx.header["ETag"] = long_etag(etag) end
    if cfg.http_last_modified == 0 then ngx.header["Last-Modified"] = nil end
    if cfg.content_type ~= FAULT_DEFAULTS.content_type then
        ngx.header["Content-Type"] = cfg.content_type
    end
end

function M.log()
    local kind = ngx.var.gcs_kind
    if kind and kind ~= "" then count("bytes", tonumber(ngx.var.body_bytes_sent) or 0) end
end

return M
