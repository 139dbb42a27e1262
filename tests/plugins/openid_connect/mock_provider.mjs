// A third-party OpenID provider for the tests: the npm package oauth2-mock-server, started on a given
// loopback port, plus what the tests need around it.
//
//   node mock_provider.mjs '{"module": ".../oauth2-mock-server/dist/index.mjs", "port": 1234,
//     "keyFile": "/tmp/keys.json", "audience": "api://mock",
//     "clients": {"id": {"secret": "s", "scopes": ["a"], "claims": {...}}}}'
//
// - The issuer is http://127.0.0.1:PORT (the package would say http://localhost:PORT), or https://
//   with "tls": {"key": PEM file, "cert": PEM file}.
// - Keys persist in keyFile (private JWKs), so a restarted provider signs with the same keys and the
//   tests can forge provider-signed tokens with arbitrary claims.
// - The token endpoint checks client secrets (the package accepts anything): wrong secret → 401
//   invalid_client; a scope the client lacks → 400 invalid_scope. Tokens carry client_id, sub, aud
//   and the client's extra claims; ID tokens (authorization code flow: /authorize answers at once,
//   no login page) keep aud = the client id and the nonce.
// - Refresh tokens rotate, as real providers do: each one works once (a reused, unknown or revoked one is
//   400 invalid_grant). POST /revoke revokes one (RFC 7009); POST /__refuse_refresh?on=1 makes
//   every refresh grant fail with invalid_grant until ?on=0. POST /__clock?offset=N: mint tokens
//   (iat, exp, nbf) N seconds later than now, for a test that moved its gateway's clock.
// - GET /__counts: requests served per endpoint; GET /__grants: refresh grants and revocations.
//   POST /__delay?ms=N: answer every provider endpoint N ms late. POST /__rotate: add a new signing
//   key (written to keyFile; the JWKS then lists both).
// - POST /__introspection {"token": T, "response": {...}}: what /introspect answers for T from now on
//   (the package answers {"active": true} for anything; here an unregistered token is inactive).
// - POST /__access_token {"value": V}: every granted token response carries access_token V from now on
//   (a hostile or broken provider's; {"value": null} goes back to the signed tokens).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { pathToFileURL } from "node:url";

const options = JSON.parse(process.argv[2]);
// The package lives in .tools/node_modules (make test-deps); ES modules ignore NODE_PATH, so by path.
const { OAuth2Issuer, OAuth2Service } = await import(pathToFileURL(options.module).href);
const issuer = new OAuth2Issuer();
issuer.url = `${options.tls ? "https" : "http"}://127.0.0.1:${options.port}`;
if (existsSync(options.keyFile)) {
  for (const jwk of JSON.parse(readFileSync(options.keyFile, "utf8")).keys) await issuer.keys.add(jwk);
} else {
  await issuer.keys.generate("RS256");
}
const saveKeys = () => writeFileSync(options.keyFile, JSON.stringify({ keys: issuer.keys.toJSON(true) }));
saveKeys();

const clients = options.clients ?? {};
const service = new OAuth2Service(issuer);

function clientOf(req) {
  const header = req.headers.authorization ?? "";
  if (header.toLowerCase().startsWith("basic ")) {
    const decoded = Buffer.from(header.slice(6).trim(), "base64").toString("utf8");
    const at = decoded.indexOf(":");
    const plus = (s) => decodeURIComponent(s.replace(/\+/g, " "));
    return { id: plus(decoded.slice(0, at)), secret: plus(decoded.slice(at + 1)) };
  }
  return { id: req.body.client_id, secret: req.body.client_secret };
}

let clockOffset = 0;  // seconds: tokens are minted on the test's clock (see POST /__clock)
service.on("beforeTokenSigning", (token, req) => {
  for (const claim of ["iat", "exp", "nbf"]) token.payload[claim] += clockOffset;
  const { id } = clientOf(req);
  // ID tokens (authorization code and refresh grants) keep the package's claims: aud = the client id.
  if (req.body.grant_type !== "client_credentials" && token.payload.aud === id) return;
  Object.assign(token.payload, { client_id: id, sub: id, aud: options.audience ?? "api://mock" },
    clients[id]?.claims ?? {});
});

const refreshTokens = { live: new Set(), refuseAll: false };
let accessTokenOverride = null;  // see POST /__access_token
service.on("beforeResponse", (response, req) => {
  if (accessTokenOverride !== null && response.statusCode === 200) response.body.access_token = accessTokenOverride;
  if (req.body.grant_type === "refresh_token") {
    grants.refresh += 1;
    if (refreshTokens.refuseAll || !refreshTokens.live.delete(req.body.refresh_token)) {
      response.statusCode = 400;
      response.body = { error: "invalid_grant", error_description: "the refresh token is not valid" };
      return;
    }
  }
  if (req.body.grant_type !== "client_credentials") {
    refreshTokens.live.add(response.body.refresh_token);
    return;
  }
  const { id, secret } = clientOf(req);
  const client = clients[id];
  if (client === undefined || client.secret !== secret) {
    response.statusCode = 401;
    response.body = { error: "invalid_client", error_description: "client authentication failed" };
    return;
  }
  const requested = (req.body.scope ?? "").split(" ").filter((s) => s);
  if (client.scopes && requested.some((s) => !client.scopes.includes(s))) {
    response.statusCode = 400;
    response.body = { error: "invalid_scope", error_description: "scope not granted" };
  }
});

const introspections = new Map();
service.on("beforeIntrospect", (response, req) => {
  response.body = introspections.get(req.body.token) ?? { active: false };
});

service.on("beforeRevoke", (response, req) => {
  grants.revoke += 1;
  refreshTokens.live.delete(req.body.token);
});

const counts = { discovery: 0, jwks: 0, token: 0, introspect: 0 };
const grants = { refresh: 0, revoke: 0 };
const endpoints = { "/.well-known/openid-configuration": "discovery", "/jwks": "jwks", "/token": "token",
  "/introspect": "introspect" };
let delayMs = 0;

const readBody = async (req) => {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return Buffer.concat(chunks).toString("utf8");
};

const handle = async (req, res) => {
  const url = new URL(req.url, issuer.url);
  if (url.pathname === "/__counts" || url.pathname === "/__grants") {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify(url.pathname === "/__counts" ? counts : grants));
    return;
  }
  if (url.pathname === "/__delay" && req.method === "POST") {
    delayMs = Number(url.searchParams.get("ms") ?? 0);
    res.end("ok");
    return;
  }
  if (url.pathname === "/__clock" && req.method === "POST") {
    clockOffset = Number(url.searchParams.get("offset") ?? 0);
    res.end("ok");
    return;
  }
  if (url.pathname === "/__refuse_refresh" && req.method === "POST") {
    refreshTokens.refuseAll = url.searchParams.get("on") === "1";
    res.end("ok");
    return;
  }
  if (url.pathname === "/__access_token" && req.method === "POST") {
    accessTokenOverride = JSON.parse(await readBody(req)).value;
    res.end("ok");
    return;
  }
  if (url.pathname === "/__introspection" && req.method === "POST") {
    const { token, response } = JSON.parse(await readBody(req));
    introspections.set(token, response);
    res.end("ok");
    return;
  }
  if (url.pathname === "/__rotate" && req.method === "POST") {
    const jwk = await issuer.keys.generate("RS256");
    saveKeys();
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ kid: jwk.kid }));
    return;
  }
  const endpoint = endpoints[url.pathname];
  if (endpoint) counts[endpoint] += 1;
  if (endpoint === "introspect" || url.pathname === "/revoke") {  // RFC 7662/7009 send forms; the package parses only JSON there
    req.body = Object.fromEntries(new URLSearchParams(await readBody(req)));
    req._body = true;  // (body-parser then leaves it alone)
  }
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  service.requestHandler(req, res);
};
const server = options.tls
  ? https.createServer({ key: readFileSync(options.tls.key), cert: readFileSync(options.tls.cert) }, handle)
  : http.createServer(handle);
server.keepAliveTimeout = 1000;
server.listen(options.port, "127.0.0.1", () => console.log(`mock provider listening on ${issuer.url}`));
const stop = () => { server.closeAllConnections(); server.close(() => process.exit(0)); };
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
