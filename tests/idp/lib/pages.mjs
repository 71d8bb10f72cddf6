// The few HTML pages the test identity provider shows. Plain markup, no
// external assets, no logo: just enough for a person or a browser-driving
// test to recognise where it is.

export function escapeHtml(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

const STYLE = `
  body { font-family: system-ui, sans-serif; background: #f3f4f6; margin: 0; }
  main { max-width: 22rem; margin: 4rem auto; background: #fff; padding: 2rem;
         border-radius: 6px; box-shadow: 0 1px 4px rgba(0,0,0,.15); }
  h1 { font-size: 1.3rem; margin-top: 0; }
  label { display: block; margin: 1rem 0 .25rem; }
  input { width: 100%; box-sizing: border-box; padding: .5rem; font-size: 1rem; }
  button { margin-top: 1.5rem; width: 100%; padding: .6rem; font-size: 1rem; cursor: pointer; }
  .error { color: #b91c1c; background: #fee2e2; padding: .5rem; border-radius: 4px; }
  .hint { color: #6b7280; font-size: .85rem; }
`;

function layout(title, body) {
  return `<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${escapeHtml(title)}</title>
  <style>${STYLE}</style>
</head>
<body>
<main>
${body}
</main>
</body>
</html>`;
}

// The sign-in form. The field names and ids (`username`, `password`) and the
// button text (`Log in`) are what the end-to-end tests look for.
export function loginPage({ action, clientName, username = '', error }) {
  const errorHtml = error
    ? `<p class="error" id="login-error" role="alert">${escapeHtml(error)}</p>`
    : '';
  return layout('Sign in - authentik-style test identity provider', `
  <h1>Sign in</h1>
  <p class="hint">Test identity provider for ${escapeHtml(clientName)}</p>
  ${errorHtml}
  <form method="post" action="${escapeHtml(action)}" id="login-form">
    <label for="username">Username</label>
    <input id="username" name="username" type="text" autocomplete="username"
           value="${escapeHtml(username)}" ${username ? '' : 'autofocus'} required>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" autocomplete="current-password"
           ${username ? 'autofocus' : ''} required>
    <button type="submit" id="login-submit">Log in</button>
  </form>`);
}

export function loggedOutPage() {
  return layout('Logged out - authentik-style test identity provider', `
  <h1>You have been logged out</h1>
  <p>Your session with the test identity provider has ended. You can close this page.</p>`);
}

export function errorPage(out) {
  const rows = Object.entries(out)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => `<p><strong>${escapeHtml(key)}</strong>: ${escapeHtml(value)}</p>`)
    .join('\n  ');
  return layout('Error - authentik-style test identity provider', `
  <h1>Something went wrong</h1>
  ${rows}`);
}

// oidc-provider's logout confirmation page, made to submit itself. The front
// layer (front.mjs) normally never lets a browser see it: it performs the
// confirmation server-side. The page is a fallback only.
export function logoutConfirmPage(form) {
  const autoForm = form.replace('</form>', '<input type="hidden" name="logout" value="yes"/></form>');
  return layout('Logging out - authentik-style test identity provider', `
  <h1>Logging out...</h1>
  ${autoForm}
  <noscript><button type="submit" form="op.logoutForm">Log out</button></noscript>
  <script>document.getElementById('op.logoutForm').submit();</script>`);
}

export function notFoundPage() {
  return layout('Not found - authentik-style test identity provider', `
  <h1>Not found</h1>`);
}

// The device code flow's page (Authentik: the brand's device-code flow). The field ids (`code`, `username`,
// `password`) and the button text (`Continue`) are what the end-to-end tests look for.
export function devicePage({ action, code = '', username = '', error, done }) {
  if (done) {
    return layout('Device authorized', `
  <h1>Device authorized</h1>
  <p id="device-done">You can close this page and go back to your terminal.</p>`);
  }
  const errorHtml = error ? `<p class="error" id="device-error" role="alert">${escapeHtml(error)}</p>` : '';
  return layout('Authorize a device - authentik-style test identity provider', `
  <h1>Authorize a device</h1>
  ${errorHtml}
  <form method="post" action="${escapeHtml(action)}" id="device-form">
    <label for="code">Code shown on the device</label>
    <input id="code" name="code" type="text" inputmode="numeric" value="${escapeHtml(code)}" required>
    <label for="username">Username</label>
    <input id="username" name="username" type="text" value="${escapeHtml(username)}" required>
    <label for="password">Password</label>
    <input id="password" name="password" type="password" required>
    <button type="submit" id="device-submit">Continue</button>
  </form>`);
}
