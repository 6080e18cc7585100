package io.ferry.derive;

import static org.assertj.core.api.Assertions.assertThat;

import io.ferry.Ferry;
import io.ferry.format.DType;
import io.ferry.transfer.PullOptions;
import io.ferry.repo.PushOptions;
import io.ferry.repo.Repository;
import io.ferry.repo.RepositoryOptions;
import io.ferry.store.StoreOptions;
import io.ferry.transfer.TransferListener;
import io.ferry.version.Version;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Clock;
import java.time.Instant;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Pins what every kind of derivation produces, byte for byte: the snapshot id of the derived version (so every file,
 * the rewritten index and {@code ferry-derivation.json} with its per-tensor metrics), the derivation record and
 * message, and the figures of the result. The expected values were computed by the Deriver before it was split into
 * one transform per method; a change to any of them changes what users get from the same command.
 */
class DeriveResultsTest {
  private static final Clock CLOCK = Clock.fixed(Instant.parse("2026-01-02T03:04:05Z"), ZoneOffset.UTC);

  @TempDir Path tmp;

  @Test
  void everyDerivationGivesTheSameBytesAndFiguresAsBefore() throws Exception {
    Path model = DeriveModels.hfModel(tmp.resolve("model"));
    List<String> got = new ArrayList<>();
    RepositoryOptions opts = RepositoryOptions.defaults().withClock(CLOCK).withAuthor("tester");
    try (Repository repo = Ferry.open(tmp.resolve("store").toString(), StoreOptions.createIfMissing(), opts);
        Repository other = Ferry.open(tmp.resolve("other").toString(), StoreOptions.createIfMissing(), opts)) {
      repo.push(model, "m:base", PushOptions.builder().message("base").build());
      Deriver d = new Deriver(repo, 3, tmp.resolve("work"));
      TensorFilter noSpecial = TensorFilter.of(null, "special");
      got.add(run(d, "cast-bf16", "m:base", new DeriveSpec.Cast(DType.BF16, TensorFilter.ALL)));
      got.add(run(d, "cast-f16", "m:base", new DeriveSpec.Cast(DType.F16, TensorFilter.of("layers|special", null))));
      got.add(run(d, "cast-f32", "m:base", new DeriveSpec.Cast(DType.F32, TensorFilter.of(null, "embed"))));
      got.add(run(d, "q8s64", "m:base", new DeriveSpec.Quantize(8, 64, true, noSpecial)));
      got.add(run(d, "q8a64", "m:base", new DeriveSpec.Quantize(8, 64, false, noSpecial)));
      got.add(run(d, "q4s32", "m:base", new DeriveSpec.Quantize(4, 32, true, noSpecial)));
      got.add(run(d, "q4a128", "m:base", new DeriveSpec.Quantize(4, 128, false, noSpecial)));
      got.add(run(d, "deq-q4a128-source", "q4a128:v", new DeriveSpec.Dequantize(null)));
      got.add(run(d, "deq-q8s64-f32", "q8s64:v", new DeriveSpec.Dequantize(DType.F32)));
      got.add(run(d, "deq-q4s32-bf16", "q4s32:v", new DeriveSpec.Dequantize(DType.BF16)));
      got.add(run(d, "prune-t", "m:base", new DeriveSpec.Prune(0.05, Double.NaN, TensorFilter.ALL)));
      got.add(run(d, "prune-s30", "m:base", new DeriveSpec.Prune(Double.NaN, 0.3, TensorFilter.ALL)));
      got.add(run(d, "prune-s0", "m:base", new DeriveSpec.Prune(Double.NaN, 0.0, TensorFilter.of("ties", null))));
      // the quantized version alone in another store: its original is not there, only sparsity is measured
      Path pulled = tmp.resolve("q8a64");
      Version q = repo.pull("q8a64:v", pulled, PullOptions.defaults()).version();
      other.push(pulled, "q8a64:v", PushOptions.builder().message(q.message()).derivation(q.derivation()).build());
      got.add(run(new Deriver(other, 1, tmp.resolve("work")), "deq-q8a64-alone", "q8a64:v",
          new DeriveSpec.Dequantize(null)));
    }
    got.forEach(System.out::println);
    assertThat(got).containsExactly(EXPECTED);
  }

  private static String run(Deriver d, String name, String source, DeriveSpec spec) throws Exception {
    DeriveResult r = d.derive(source, name + ":v", spec, null, TransferListener.NONE);
    Version v = r.push().version();
    System.out.printf("%s: derive %d ms, push %d ms%n", name, r.deriveNanos() / 1_000_000, r.pushNanos() / 1_000_000);
    StringBuilder tensors = new StringBuilder();
    for (TensorReport t : r.tensors()) {
      tensors.append(t.name()).append('|').append(t.action()).append('|').append(t.reason()).append('|')
          .append(t.sourceDtype()).append('|').append(t.shape()).append('|').append(t.outputs()).append('|')
          .append(t.metrics() == null ? null : t.metrics().figures()).append('|').append(t.compared()).append('\n');
    }
    return name + " snapshot=" + v.snapshot().shortHex(16) + " derivation=" + digest(v.derivation().toString())
        + " message=" + digest(v.message()) + " parents=" + v.parents().size() + " changed=" + r.changedCount()
        + " sourceBytes=" + r.sourceTensorBytes() + " comparedWith=" + (r.sourceTarget() == null ? "-"
        : r.sourceTarget().shortHex(8)) + " overall=" + digest(r.overall().figures().toString()) + " tensors="
        + digest(tensors.toString());
  }

  private static String digest(String s) throws Exception {
    byte[] h = MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8));
    return HexFormat.of().formatHex(h, 0, 8);
  }

  /**
   * Snapshot ids, derivations and compared-with ids name source versions, whose ids cover the stored bytes of their
   * push (version stats): they changed with frame format version 2 (32 more header bytes per frame), and again when
   * big BF16/F16 chunks began to take their Huffman code from a sample (the base model's stored size changed by a few
   * bytes); the figures did not.
   */
  private static final String[] EXPECTED = {
      "cast-bf16 snapshot=8214f2cd520738a3 derivation=c4722883cacd91c9 message=34dd06ed208b7807 parents=1 changed=10 sourceBytes=4984068 comparedWith=- overall=c4b059a937286f78 tensors=26473f3b22dc66c7",
      "cast-f16 snapshot=95dbca7e59f83754 derivation=22b89430ffe4d386 message=c7d2f2da723d7ca8 parents=1 changed=5 sourceBytes=4984068 comparedWith=- overall=fda995b3a1e852c1 tensors=6039bbeb407fac59",
      "cast-f32 snapshot=f22800ac7cadaabc derivation=14a3b8cecf7531c3 message=f87f21f17324a50b parents=1 changed=4 sourceBytes=4984068 comparedWith=- overall=aba107732dda9f25 tensors=6a5a0866b23dc947",
      "q8s64 snapshot=760842a1c26c1aba derivation=6ab5f7471b532c3e message=eae845c651ec6a81 parents=1 changed=7 sourceBytes=4984068 comparedWith=- overall=843ce1f4723faf9c tensors=8ddad33636ff7649",
      "q8a64 snapshot=30927ada75c4cabc derivation=b139fedcc6e8fc5b message=5da7624ad1b71b03 parents=1 changed=7 sourceBytes=4984068 comparedWith=- overall=e8d55a9bb1a177e1 tensors=f1c5d5d9c3aafb76",
      "q4s32 snapshot=2a41700e9c238aa9 derivation=a740f916576abb69 message=06ced40f0c99f0d0 parents=1 changed=7 sourceBytes=4984068 comparedWith=- overall=82cdaca07ac96bcd tensors=634edc8ceeda4261",
      "q4a128 snapshot=e581e223af6fb577 derivation=ab5e26ba2e27f695 message=7ae58327dfb0783e parents=1 changed=4 sourceBytes=4984068 comparedWith=- overall=1534148118f332ee tensors=cf095f2e16490443",
      "deq-q4a128-source snapshot=909fbe1f358c356c derivation=914f7089fa2c6878 message=f60879071d6e66dd parents=1 changed=4 sourceBytes=1350356 comparedWith=8a6cbc3f overall=3a5d6304093d8e29 tensors=09f27fff5707d052",
      "deq-q8s64-f32 snapshot=921a7d9cc5a1a9b4 derivation=d149a4015c0d3538 message=d86217d58c7da269 parents=1 changed=7 sourceBytes=2640596 comparedWith=8a6cbc3f overall=843ce1f4723faf9c tensors=24b39096d3e7e368",
      "deq-q4s32-bf16 snapshot=f7e4f3743b046a55 derivation=8778f1ca0fbbdf63 message=0de3fd3fff2ae40b parents=1 changed=7 sourceBytes=1556772 comparedWith=8a6cbc3f overall=a1fcec9523d82ff5 tensors=7b65e38de6c525ef",
      "prune-t snapshot=0a1f825009e26523 derivation=4408da2fbb898452 message=90f6807b40ee7a71 parents=1 changed=12 sourceBytes=4984068 comparedWith=- overall=fcd2639fb5b0fd76 tensors=964539842a7dbbf8",
      "prune-s30 snapshot=9557e76cb184eddf derivation=a7e31546eb67b3d0 message=e6517bc1eb0a23a6 parents=1 changed=12 sourceBytes=4984068 comparedWith=- overall=7dc22f1fc9ae59f9 tensors=6d313f58b9778126",
      "prune-s0 snapshot=94d1ed9b16515018 derivation=02e8604fa4e7de6e message=aeff775dd947b71b parents=1 changed=1 sourceBytes=4984068 comparedWith=- overall=cbe11d3aa50225ef tensors=79fd511cb9457a4a",
      "deq-q8a64-alone snapshot=264bab6d4ff704e2 derivation=916fde0ac72295cd message=0a80ab3510ac3683 parents=1 changed=7 sourceBytes=2679304 comparedWith=- overall=d6c000375a217ab2 tensors=2b70574cc907a6ec"};
}
