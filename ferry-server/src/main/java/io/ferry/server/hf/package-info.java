/** The read side of the Hugging Face Hub's HTTP API over Ferry's models: resolve, model info and tree. */
package io.ferry.server.hf;
