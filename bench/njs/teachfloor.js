/*
 * Teachfloor webhook verification for njs (Debian's libnginx-mod-http-js):
 * the njs peer of ngx_http_teachfloor_module that scripts/bench measures.
 *
 * The same checks, in the same order, with the same answers as the module
 * (see bench/lua/teachfloor.lua for the list).  An accepted event goes on
 * with r.internalRedirect() to a location that proxies it; the body already
 * read is what proxy_pass sends.
 *
 *   js_import tf from /path/to/bench/njs/teachfloor.js;
 *   location = /webhooks/teachfloor { js_content tf.gate; }
 *   location @teachfloor_upstream   { proxy_pass http://app; }
 *
 * Configuration is the constants below, the event patterns compiled by
 * hand into INCLUDE and EXCLUDE (njs has no per-worker init hook).
 *
 * Written to be fast, not handicapped: every regular expression is a
 * literal (compiled once, not per request); the pattern set is one
 * alternation; HMAC is njs's crypto.createHmac (njs has its own SHA-256 and
 * no keyed state to reuse); the digest is compared in constant time over
 * its 32 bytes.
 */

import crypto from 'crypto';
import fs from 'fs';

const SECRETS = ['whsec_test'];
const SIGNATURE_HEADER = 'Teachfloor-Signature';
const UPSTREAM = '@teachfloor_upstream';

const EVENT_RE = /^[a-z0-9_]+(?:\.[a-z0-9_]+)+$/;
const TIME_RE = /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:[Zz]|[+-](\d\d):(\d\d))$/;
const MDAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/*
 * The event patterns (teachfloor_events element.* member.* course.*)
 * compiled by hand into one alternation per kind ("*" is one whole segment;
 * "!" patterns would go to EXCLUDE).  njs 0.7 runs a module's top-level
 * code again for every request (each request gets a fresh clone of the VM),
 * so a new RegExp() built here from a list of patterns would be compiled by
 * PCRE on every request; a literal is compiled once, with the script.
 */
const INCLUDE = /^(?:element\.[a-z0-9_]+|member\.[a-z0-9_]+|course\.[a-z0-9_]+)$/;
const EXCLUDE = null;

function answer(r, status, result, info) {
    if (info) {
        ngx.log(ngx.INFO, 'teachfloor webhook ' + result);
    } else {
        r.warn('teachfloor webhook ' + result);
    }

    r.headersOut['Content-Type'] = 'application/json';
    r.return(status, '{"result":"' + result + '"}\n');
}

function validTime(t) {
    const m = TIME_RE.exec(t);

    if (m === null) {
        return false;
    }

    const year = +m[1], month = +m[2], day = +m[3];

    if (month < 1 || month > 12 || +m[4] > 23 || +m[5] > 59 || +m[6] > 60) {
        return false;
    }

    let mdays = MDAYS[month - 1];

    if (month === 2 && year % 4 === 0
        && (year % 100 !== 0 || year % 400 === 0))
    {
        mdays = 29;
    }

    if (day < 1 || day > mdays) {
        return false;
    }

    if (m[7] !== undefined && (+m[7] > 23 || +m[8] > 59)) {
        return false;
    }

    return true;
}

function equal32(a, b) {
    let d = 0;

    for (let i = 0; i < 32; i++) {
        d |= a[i] ^ b[i];
    }

    return d === 0;
}

function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function gate(r) {
    if (r.method !== 'POST') {
        r.headersOut['Allow'] = 'POST';
        return answer(r, 405, 'method_not_allowed');
    }

    /* repeated headers come joined with ",": no longer 64 hex digits */
    const sig = r.headersIn[SIGNATURE_HEADER];

    if (sig === undefined) {
        return answer(r, 401, 'missing_signature');
    }

    const expected = sig.length === 64 ? Buffer.from(sig, 'hex') : null;

    if (expected === null || expected.length !== 32) {
        return answer(r, 401, 'invalid_signature');
    }

    /* the raw bytes for the HMAC; the text (decoded once by njs) to parse */
    let body = r.requestBuffer;
    let text;

    if (body === undefined) {
        const file = r.variables.request_body_file;
        body = file ? fs.readFileSync(file) : Buffer.alloc(0);
        text = body.toString();
    }

    let ok = false;

    for (let i = 0; i < SECRETS.length; i++) {
        const d = crypto.createHmac('sha256', SECRETS[i]).update(body).digest();

        if (equal32(d, expected)) {
            ok = true;
            break;
        }
    }

    if (!ok) {
        return answer(r, 401, 'invalid_signature');
    }

    let env;

    try {
        env = JSON.parse(text !== undefined ? text : r.requestText);
    } catch (e) {
        return answer(r, 400, 'malformed_json');
    }

    if (!isObject(env)) {
        return answer(r, 400, 'malformed_json');
    }

    const name = env.event !== undefined ? env.event : env.type;

    if (typeof name !== 'string' || !EVENT_RE.test(name)) {
        return answer(r, 422, 'invalid_envelope');
    }

    const t = env.timestamp !== undefined ? env.timestamp : env.created_at;

    if (typeof t !== 'string' || !validTime(t)) {
        return answer(r, 422, 'invalid_envelope');
    }

    if (!isObject(env.data)) {
        return answer(r, 422, 'invalid_envelope');
    }

    if (env.id !== undefined && (typeof env.id !== 'string' || env.id === '')) {
        return answer(r, 422, 'invalid_envelope');
    }

    if (env.test !== undefined && typeof env.test !== 'boolean') {
        return answer(r, 422, 'invalid_envelope');
    }

    if ((EXCLUDE && EXCLUDE.test(name)) || (INCLUDE && !INCLUDE.test(name))) {
        return answer(r, 200, 'filtered', true);
    }

    r.internalRedirect(UPSTREAM);
}

export default { gate };
