// Channels between processes: the wire format, one end of a connection, and a listener.
export { Channel } from './channel';
export { ChannelServer, listen, connect } from './server';
export { MAX_BUFFERS, MAX_PAYLOAD, channelCodes } from './wire';
export type { ChannelMessage, ChannelOptions, ChannelFromFdOptions, ListenOptions, ConnectOptions, PeerCredentials } from './socket';
