// Go's encoding/json as flannel decodes its config and lease values: field names matched
// case-insensitively after an exact match, syntax error texts, %q quoting.

/** A decoded JSON object. */
export type JsonObject = Record<string, unknown>;

/** Go's %q of a string (strconv.Quote), close enough: JSON's quoting. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Go's encoding/json error text for a body that is not JSON (close enough for logs). */
export function goJsonSyntaxError(s: string | undefined): string | null {
  const t = (s || '').trimStart();
  if (t === '') return 'unexpected end of JSON input';
  try {
    JSON.parse(s as string);
    return null;
  } catch {
    const c = t[0]!;
    if (!'{["-0123456789tfn'.includes(c)) return `invalid character '${c}' looking for beginning of value`;
    return 'unexpected end of JSON input';
  }
}

/** Go's encoding/json field lookup: exact name first, then case-insensitive. */
export function jsonField(obj: JsonObject, name: string): unknown {
  if (Object.hasOwn(obj, name)) return obj[name];
  const k = Object.keys(obj).find((key) => key.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : obj[k];
}
