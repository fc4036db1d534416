// A real OpenID provider for the tests: panva's oidc-provider (OpenID-certified), pinned in
// package.json/package-lock.json and installed by `npm ci`. Run by tests/support/oidcprovider.py:
//   node oidc_provider.mjs <port> <clients.json>
// It prints "ready <issuer>" once it listens on 127.0.0.1.
//
// Accounts: any email; `email_verified` is false for one that starts with "unverified.".
// The interaction (login and consent) is answered at once, for the account the browser names in
// its `who` cookie on the provider; a `deny=1` cookie answers `access_denied` instead, as a person
// refusing consent would. For the client "nonce-liar", the ID token is re-signed with the
// provider's own key and another nonce: a provider (or a person in the middle holding its key)
// answering for another authorization request.
// For citizens (FranceConnect-like): the civil identity's scopes (given_name, family_name,
// birthdate), pairwise subjects for a client whose metadata says `subject_type: "pairwise"`, the
// `acr` of the log-in (`eidas1`), RP-initiated logout, and a client "expired-code" whose codes
// live one second.
// With a `pages=1` cookie, the interaction is a person's instead: a log-in page (an email field)
// and a consent page (Allow / Refuse), plain HTML forms, as a browser test walks through them.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import Provider from 'oidc-provider';
import { exportJWK, generateKeyPair, importJWK, SignJWT, decodeJwt, decodeProtectedHeader } from 'jose';

const port = Number(process.argv[2]);
const clients = JSON.parse(readFileSync(process.argv[3], 'utf8'));
const issuer = `http://127.0.0.1:${port}`;

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const jwk = { ...(await exportJWK(privateKey)), kid: 'test-key', use: 'sig', alg: 'RS256' };

const provider = new Provider(issuer, {
  clients,
  jwks: { keys: [jwk] },
  claims: {
    openid: ['sub'], email: ['email', 'email_verified'], given_name: ['given_name'],
    family_name: ['family_name'], birthdate: ['birthdate'], acr: null,
  },
  scopes: ['openid', 'email', 'given_name', 'family_name', 'birthdate'],
  subjectTypes: ['public', 'pairwise'],
  async pairwiseIdentifier(ctx, accountId, client) {
    return createHash('sha256').update(`${client.sectorIdentifier}|${accountId}|test-salt`).digest('hex');
  },
  acrValues: ['eidas1', 'eidas2'],
  features: { devInteractions: { enabled: false } },
  pkce: { required: () => true },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: { keys: ['test-cookie-key-not-a-secret'] },
  ttl: { AuthorizationCode: (ctx, code, client) => (client.clientId === 'expired-code' ? 1 : 60) },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id, email: id, email_verified: !id.startsWith('unverified.'),
          given_name: 'Marianne', family_name: 'Dupont', birthdate: '1970-01-01',
        };
      },
    };
  },
});

function cookie(ctx, name) {
  const header = ctx.get('cookie') || '';
  for (const part of header.split(';')) {
    const [key, ...value] = part.trim().split('=');
    if (key === name) return decodeURIComponent(value.join('='));
  }
  return undefined;
}

function page(title, body) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>`
    + '<meta name="viewport" content="width=device-width, initial-scale=1"></head>'
    + `<body><main><h1>${title}</h1>${body}</main></body></html>`;
}

async function form(ctx) {
  const chunks = [];
  for await (const chunk of ctx.req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

async function pages(ctx, uid) {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (ctx.method === 'POST') {
    const answer = await form(ctx);
    let result;
    if (answer.get('refuse')) {
      result = { error: 'access_denied', error_description: 'the person refused' };
    } else if (details.prompt.name === 'login') {
      result = { login: { accountId: answer.get('email') || 'nobody@example.org', acr: 'eidas1' } };
    } else {
      const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
      const missing = details.prompt.details;
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      result = { consent: { grantId: await grant.save() } };
    }
    await provider.interactionFinished(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    return;
  }
  ctx.type = 'html';
  ctx.body = details.prompt.name === 'login'
    ? page('Test identity provider: log in', `<form method="post" action="/interaction/${uid}">`
      + '<label for="email">Email</label> <input id="email" name="email" type="email" autocomplete="email">'
      + ' <button type="submit">Log in</button></form>')
    : page('Test identity provider: share your identity?', `<form method="post" action="/interaction/${uid}">`
      + '<p>The service asks for your identifier.</p>'
      + '<button type="submit" name="allow" value="1">Allow</button> '
      + '<button type="submit" name="refuse" value="1">Refuse</button></form>');
}

provider.use(async (ctx, next) => {
  const match = /^\/interaction\/([^/]+)$/.exec(ctx.path);
  if (!match) {
    await next();
    if (ctx.path === '/token' && ctx.body && typeof ctx.body.id_token === 'string') {
      const claims = decodeJwt(ctx.body.id_token);
      if (claims.aud === 'nonce-liar') {
        const key = await importJWK(jwk, 'RS256');
        const header = decodeProtectedHeader(ctx.body.id_token);
        ctx.body = {
          ...ctx.body,
          id_token: await new SignJWT({ ...claims, nonce: 'another-request' })
            .setProtectedHeader({ alg: 'RS256', kid: header.kid })
            .sign(key),
        };
      }
    }
    return;
  }
  if (cookie(ctx, 'pages') === '1') {
    await pages(ctx, match[1]);
    return;
  }
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (cookie(ctx, 'deny') === '1') {
    await provider.interactionFinished(ctx.req, ctx.res, {
      error: 'access_denied', error_description: 'the person refused',
    }, { mergeWithLastSubmission: false });
    return;
  }
  if (details.prompt.name === 'login') {
    const who = cookie(ctx, 'who') || 'nobody@example.org';
    await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId: who, acr: 'eidas1' } },
      { mergeWithLastSubmission: false });
    return;
  }
  const grant = details.grantId
    ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
  const missing = details.prompt.details;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  const grantId = await grant.save();
  await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } },
    { mergeWithLastSubmission: true });
});

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`ready ${issuer}\n`);
});
