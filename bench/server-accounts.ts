// Credentials shared by bench/server.ts (the emulated devices) and bench/server-child.ts (the server).
export const SERVER_NONCE = 'AAECAwQFBgcICQoLDA0ODw==';
export const CLIENT_NONCE = 'c2VydmVyLW5vbmNl';
export const SECRETS = { client: 'devpw', server: 'srvpw', serverId: 'bench-srv' };
