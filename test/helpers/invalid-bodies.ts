const ok = { locationId: "ve9EPM428h8vShlRW1KT", csvId: "65f92e55cc884f0d0845e447" };
const withField = (field: string, value: unknown) => JSON.stringify({ ...ok, [field]: value });
const without = (field: "locationId" | "csvId") => {
  const { [field]: _, ...rest } = ok;
  return JSON.stringify(rest);
};

/** Bodies that are not deletion jobs, each with what the error must name. */
export const INVALID_BODIES: ReadonlyArray<{ name: string; body: string; error: RegExp }> = [
  { name: "not JSON", body: "delete csv 42 please", error: /not valid JSON/ },
  { name: "blank body", body: "   ", error: /not valid JSON/ },
  { name: "truncated JSON", body: '{"locationId":"abc","csvId":', error: /not valid JSON/ },
  { name: "null", body: "null", error: /JSON object, got null/ },
  { name: "array", body: JSON.stringify([ok]), error: /JSON object, got an array/ },
  { name: "number", body: "42", error: /JSON object, got number/ },
  { name: "string", body: '"65f92e55cc884f0d0845e447"', error: /JSON object, got string/ },
  { name: "boolean", body: "true", error: /JSON object, got boolean/ },
  { name: "empty object", body: "{}", error: /locationId: is required/ },
  { name: "missing locationId", body: without("locationId"), error: /locationId: is required/ },
  { name: "missing csvId", body: without("csvId"), error: /csvId: is required/ },
  {
    name: "empty locationId",
    body: withField("locationId", ""),
    error: /locationId: must not be empty/,
  },
  { name: "empty csvId", body: withField("csvId", ""), error: /csvId: must not be empty/ },
  { name: "numeric csvId", body: withField("csvId", 65), error: /csvId: must be a string/ },
  {
    name: "null locationId",
    body: withField("locationId", null),
    error: /locationId: must be a string/,
  },
  {
    name: "object csvId",
    body: withField("csvId", { $oid: "x" }),
    error: /csvId: must be a string/,
  },
  { name: "array csvId", body: withField("csvId", ["a"]), error: /csvId: must be a string/ },
  { name: "slash in csvId", body: withField("csvId", "abc/def"), error: /csvId: may contain only/ },
  {
    name: "dot-dot in locationId",
    body: withField("locationId", ".."),
    error: /locationId: may contain only/,
  },
  {
    name: "path traversal",
    body: withField("csvId", "../../users"),
    error: /csvId: may contain only/,
  },
  {
    name: "encoded slash",
    body: withField("csvId", "abc%2Fdef"),
    error: /csvId: may contain only/,
  },
  {
    name: "query string",
    body: withField("csvId", "abc?force=true"),
    error: /csvId: may contain only/,
  },
  { name: "fragment", body: withField("csvId", "abc#x"), error: /csvId: may contain only/ },
  { name: "space", body: withField("locationId", "loc 1"), error: /locationId: may contain only/ },
  { name: "newline", body: withField("csvId", "abc\ndef"), error: /csvId: may contain only/ },
  { name: "non-ASCII", body: withField("csvId", "äbc"), error: /csvId: may contain only/ },
  { name: "symbol", body: withField("locationId", "loc✓"), error: /locationId: may contain only/ },
  {
    name: "65 characters",
    body: withField("csvId", "a".repeat(65)),
    error: /csvId: must be at most 64/,
  },
  {
    name: "reason too long",
    body: withField("reason", "r".repeat(257)),
    error: /reason: must be at most 256/,
  },
  {
    name: "requestedBy wrong type",
    body: withField("requestedBy", 7),
    error: /requestedBy: must be a string/,
  },
  {
    name: "20 KiB body",
    body: JSON.stringify({ ...ok, padding: "x".repeat(20 * 1024) }),
    error: /more than the 16384 allowed/,
  },
];
