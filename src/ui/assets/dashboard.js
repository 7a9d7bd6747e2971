// Switchboard's dashboard: progressive behaviour only; every page works without it.

// Filter forms leave empty fields out of the URL, so a shared link holds just the filters that are set.
document.addEventListener('submit', (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || form.method !== 'get') return;
  for (const field of form.elements) {
    if ((field instanceof HTMLInputElement || field instanceof HTMLSelectElement) && field.name && field.value === '') {
      field.disabled = true;
    }
  }
});

// An element with data-refresh="<seconds>" and an id is fetched again with its page and swapped in place, as long
// as the page still marks it for refresh: a running delivery's detail follows it to its end.
function refresh(element) {
  const seconds = Number(element.dataset.refresh);
  if (!element.id || !(seconds > 0)) return;
  setTimeout(async () => {
    try {
      const response = await fetch(location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' });
      if (!response.ok) return;
      const page = new DOMParser().parseFromString(await response.text(), 'text/html');
      const fresh = page.getElementById(element.id);
      if (!fresh) return;
      element.replaceWith(fresh);
      refresh(fresh);
    } catch {
      refresh(element);
    }
  }, seconds * 1000);
}
document.addEventListener('DOMContentLoaded', () => document.querySelectorAll('[data-refresh]').forEach(refresh));
