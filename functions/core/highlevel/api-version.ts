/** The `Version` header HighLevel's reference gives for the social-planner and OAuth endpoints. */
export const HIGHLEVEL_API_VERSION = "2021-07-28";
