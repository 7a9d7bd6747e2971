/** Command-line flags shared by the benchmarks. */

/** A flag's value as a positive number, or a message naming the flag. */
export function positiveNumber(flag: string, value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new Error(`${flag} is "${value}": expected a positive number`);
  return number;
}

/** A flag's value as a positive whole number. */
export function wholeNumber(flag: string, value: string): number {
  const number = positiveNumber(flag, value);
  if (!Number.isInteger(number)) throw new Error(`${flag} is "${value}": expected a whole number`);
  return number;
}
