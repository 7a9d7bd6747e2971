/** Whether a value in a rule's `with:` is a template, filled in from the event at run time. */
export function isTemplated(value: unknown): boolean {
  if (typeof value === 'string') return value.includes('{{');
  if (Array.isArray(value)) return value.some(isTemplated);
  if (typeof value !== 'object' || value === null) return false;
  return Object.hasOwn(value, '$logic') || Object.values(value).some(isTemplated);
}
