import { createRefreshTokenHandler } from "./create-handler.ts";

/** The token refresher: renews the OAuth tokens in the secret before they expire. */
export const handler = createRefreshTokenHandler(process.env);
