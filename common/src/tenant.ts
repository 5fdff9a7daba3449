/**
 * A tenant name: it names a database, a replication slot, a publication and a
 * topic prefix, so it keeps to what all four accept.
 */
export const TENANT_NAME = /^[a-z][a-z0-9_]{0,30}$/;
