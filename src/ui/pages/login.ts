/** The login form: ADMIN_TOKEN, or ADMIN_READ_TOKEN for a read-only session. */
import { html } from '../html.ts';
import type { PageContent } from '../layout.ts';

export function loginPage(next: string, problem?: string): PageContent {
  return {
    title: 'Log in',
    body: html`<form class="login" method="post" action="/ui/login">
  ${problem && html`<p class="error" role="alert">${problem}</p>`}
  <label>Admin token <input type="password" name="token" autocomplete="current-password" required autofocus></label>
  <input type="hidden" name="next" value="${next}">
  <button>Log in</button>
  <p class="muted">ADMIN_TOKEN, or ADMIN_READ_TOKEN to look without changing anything.</p>
</form>`,
  };
}
