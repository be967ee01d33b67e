/** Herald's version, shown by the CLI, the banner and the OpenAPI document. */
export const API_VERSION = '0.1.0';
