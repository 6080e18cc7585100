/**
 * {@link io.ferry.objects.ObjectDatabase}: core's view of a chunk store as framed objects, packs, snapshots and
 * versions, every read checked. Below both the repository and the transfers, which share it.
 */
package io.ferry.objects;
