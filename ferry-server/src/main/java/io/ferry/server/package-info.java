/**
 * {@code ferry serve}: an HTTP server over one store on embedded Jetty ({@link io.ferry.server.FerryServer}), serving
 * the {@code /v1/store} protocol, the model API and (through {@link io.ferry.server.hf}) the Hugging Face-compatible
 * endpoint; the access log; the check of uploads against their ids. Stateless: several servers over one store agree.
 */
package io.ferry.server;
