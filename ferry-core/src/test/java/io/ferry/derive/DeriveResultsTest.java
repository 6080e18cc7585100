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
 * one transform per method; a change to any of them changes what users get from the same command. The two prunes
 * changed once, on purpose: the F64 tensor holding 1e300 had its relative Frobenius error recorded as 0 and no
 * cosine, as ‖A‖² overflowed a double; both are recorded as they are since the sums are scaled.
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
      // quantize refuses the F64 tensor holding 1e300 (beyond float32: DeriverTest), so it is left out with "special"
      TensorFilter noSpecial = TensorFilter.of(null, "special|layers\\.1\\.v");
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
   * bytes); the figures did not. The quantizations (and their dequantizations) changed when quantize began to refuse
   * a value beyond float32's range and the F64 tensor holding 1e300 was left out of them (it had quantized to NaN).
   * The dequantization without its original changed when it stopped recording error figures it never measured (0
   * error, cosine 1): only its sparsity is recorded. The bf16 cast and the prunes changed when the empty tensor they
   * change stopped recording figures over no elements (0 error, cosine 1, sparsity 0): its report, so the snapshot.
   * The prunes changed again when tensors they write byte for byte as they were (the empty, scalar and all-zero ones,
   * and those with nothing below the threshold) began to be reported as kept, outside the overall figures. The casts
   * and prunes changed when their reports began to write the counts non_finite and overflow as integers (1, not 1.0).
   * The prunes changed again when they began to keep 1-D tensors (the model's norm), as quantize does.
   */
  private static final String[] EXPECTED = {
      "cast-bf16 snapshot=dd72838897e2b805 derivation=96eb0d84db4ee44c message=34dd06ed208b7807 parents=1 changed=10 sourceBytes=4984068 comparedWith=- overall=c4b059a937286f78 tensors=6af7d388302a9731",
      "cast-f16 snapshot=d6d267ce8bfeeeb8 derivation=b5a73735865d36df message=c7d2f2da723d7ca8 parents=1 changed=5 sourceBytes=4984068 comparedWith=- overall=fda995b3a1e852c1 tensors=6039bbeb407fac59",
      "cast-f32 snapshot=86b466cc455286d2 derivation=57b7ded66525bfdd message=f87f21f17324a50b parents=1 changed=4 sourceBytes=4984068 comparedWith=- overall=aba107732dda9f25 tensors=6a5a0866b23dc947",
      "q8s64 snapshot=adc91222bdeac7ec derivation=dcd059c73a1fa19a message=f673da9fe23afd8d parents=1 changed=6 sourceBytes=4984068 comparedWith=- overall=590c611ac133da1f tensors=a8223cfd53471fbc",
      "q8a64 snapshot=ca87b8b7315c57f1 derivation=4a47de10c216ba24 message=f498153d962d1f2f parents=1 changed=6 sourceBytes=4984068 comparedWith=- overall=cf28f63801a94bbd tensors=eea916407cfac0ae",
      "q4s32 snapshot=66ba3ac39984d924 derivation=869b5b713dc9e3cd message=8dfeb003f4708264 parents=1 changed=6 sourceBytes=4984068 comparedWith=- overall=edbf9253c1aa35c0 tensors=737b60ac9a44fe97",
      "q4a128 snapshot=d9617a30eaa3161b derivation=30565f90284a2cc2 message=2c16e1dff6ba88be parents=1 changed=4 sourceBytes=4984068 comparedWith=- overall=1534148118f332ee tensors=dfbb46254ddf11ef",
      "deq-q4a128-source snapshot=d87554a5ea8c9b75 derivation=68b2326f94b87889 message=f60879071d6e66dd parents=1 changed=4 sourceBytes=1350356 comparedWith=de12c290 overall=3a5d6304093d8e29 tensors=09f27fff5707d052",
      "deq-q8s64-f32 snapshot=37204c8be5be034c derivation=d9b3eff8094a9e7f message=d86217d58c7da269 parents=1 changed=6 sourceBytes=2644148 comparedWith=de12c290 overall=590c611ac133da1f tensors=448950fa0a1f3d08",
      "deq-q4s32-bf16 snapshot=c3950618b4c696ce derivation=46aff2f3671b7abe message=0de3fd3fff2ae40b parents=1 changed=6 sourceBytes=1560548 comparedWith=de12c290 overall=b137d1d2da6b4ba9 tensors=94498a17a2cb3fda",
      "prune-t snapshot=1ec72674809c1de0 derivation=4f895a323e3f9e99 message=90f6807b40ee7a71 parents=1 changed=7 sourceBytes=4984068 comparedWith=- overall=f588101111982e89 tensors=d9138461d7c5618c",
      "prune-s30 snapshot=385ba83990db3704 derivation=4d2ae37750c0b1d0 message=e6517bc1eb0a23a6 parents=1 changed=8 sourceBytes=4984068 comparedWith=- overall=83fd69f84c697038 tensors=41fd89ad56ccd5b2",
      "deq-q8a64-alone snapshot=28645fa45a11f0f2 derivation=560ea06437f7bda5 message=0a80ab3510ac3683 parents=1 changed=6 sourceBytes=2682848 comparedWith=- overall=df9918c11df2b982 tensors=6f2a565dffb990a0"};
}
