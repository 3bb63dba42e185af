// A Node program a run starts (tests/cli/broker/egress.rs): undici's EnvHttpProxyAgent reads
// HTTPS_PROXY, Node reads NODE_EXTRA_CA_CERTS at start-up. Node 20's own fetch ignores the
// proxy variables, so this is what a Node user of placeholders does.
// usage: node egress_client.js UNDICI_DIR URL AUTH_ENV_VAR
const [undiciDir, url, authVar] = process.argv.slice(2);
const undici = require(undiciDir);
const dispatcher = new undici.EnvHttpProxyAgent();
undici
  .fetch(url, {
    dispatcher,
    headers: { authorization: `Bearer ${process.env[authVar]}` },
  })
  .then(async (r) => {
    console.log(`status ${r.status}`);
    console.log(await r.text());
  })
  .catch((e) => {
    console.log(`error ${e.cause ? e.cause.code || e.cause.message : e.message}`);
    process.exit(1);
  });
