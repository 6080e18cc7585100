package io.ferry.format.torch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.ferry.error.InvalidInputException;
import io.ferry.format.DType;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * The restricted unpickler on hand-made pickles: what state dicts use is read, and every way to make a pickle run
 * code, or to make its reader spend unbounded memory, is refused with a message naming the global or opcode and its
 * byte position. Nothing here could run anyway: the interpreter has nothing to call.
 */
class UnpicklerTest {
  private static final String ALLOWED = "a checkpoint may name only what torch.load(weights_only=True) reads as"
      + " dense tensors and plain values: collections.OrderedDict and Counter, torch._utils._rebuild_tensor,"
      + " _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter, _rebuild_parameter_with_state and"
      + " _rebuild_meta_tensor_no_storage, torch._tensor._rebuild_from_type_v2 of torch.Tensor or"
      + " torch.nn.parameter.Parameter, torch.Size, torch.device, torch.serialization._get_layout, torch dtypes and"
      + " qschemes, torch.<Type>Storage and torch.storage.UntypedStorage, builtins.set, bytearray and complex,"
      + " _codecs.encode, and numpy's number arrays, dtypes and scalars (push --opaque GLOB stores a file that names"
      + " more as its bytes, unread)";

  private static Object load(Pickles p) throws InvalidInputException {
    return Unpickler.load("m.pt: archive/data.pkl", ByteBuffer.wrap(p.bytes()));
  }

  private static void refused(Pickles p, String message) {
    assertThatThrownBy(() -> load(p)).isInstanceOf(InvalidInputException.class)
        .hasMessage("m.pt: archive/data.pkl: " + message);
  }

  /**
   * {@code {False: t, 0: 7}} is {@code {False: 7}} to Python, as {@code {True: a, 1: b}} is {@code {True: b}}: equal
   * keys are one, the first key's form and the last value kept. They were two keys here, so a checkpoint listed a
   * tensor torch.load never returns.
   */
  @Test
  void keysPythonHoldsEqualAreOneKeyWithTheFirstFormAndTheLastValue() throws Exception {
    Pickles p = Pickles.proto2().op('}').mark()
        .op(0x89).str("tensor-like").binint(0).binint(7)
        .op(0x88).str("a").binint(1).str("b")
        .binint(2).str("x").op(0x8a, 1, 2).str("y")
        .str("1").str("s")
        .op('u').stop();
    Py.Dict d = (Py.Dict) load(p);
    assertThat(d.map().keySet()).containsExactly(false, true, 2L, "1");
    assertThat(d.map().get(false)).isEqualTo(7L);
    assertThat(d.map().get(true)).isEqualTo("b");
    assertThat(d.map().get(2L)).as("2 pickled as an int, then as a long").isEqualTo("y");
  }

  @Test
  void readsAStateDictWithTensorsParametersAndValues() throws Exception {
    Pickles p = Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').op('q', 0).mark()
        .str("w").tensor("FloatStorage", "0", 6, 0, new int[] {2, 3}, new int[] {3, 1})
        .str("t").tensor("FloatStorage", "0", 6, 0, new int[] {3, 2}, new int[] {1, 3})
        .str("p").global("torch._utils", "_rebuild_parameter").mark()
        .tensor("BFloat16Storage", "1", 4, 0, new int[] {4}, new int[] {1}).op(0x88)
        .global("collections", "OrderedDict").op(')').op('R').op('t').op('R')
        .str("lr").op('G').raw(ByteBuffer.allocate(8).putDouble(0.001).array())
        .str("big").op(0x8a, 9).raw(new byte[] {0, 0, 0, 0, 0, 0, 0, 0, 1})
        .str("neg").binint(-5).str("flag").op(0x89).str("none").op('N')
        .op('u')
        // the _metadata attribute of a state dict, set by BUILD on the OrderedDict
        .op('}').str("_metadata").op('}').op('s').op('b')
        .stop();
    Py.Dict d = (Py.Dict) load(p);
    assertThat(d.ordered()).isTrue();
    assertThat(d.map().keySet()).containsExactly("w", "t", "p", "lr", "big", "neg", "flag", "none");
    Py.Tensor w = (Py.Tensor) d.map().get("w");
    assertThat(w.storage()).isEqualTo(new Py.Storage("0", DType.F32, 6, "cpu"));
    assertThat(w.shape()).containsExactly(2L, 3L);
    assertThat(w.contiguous()).isTrue();
    Py.Tensor t = (Py.Tensor) d.map().get("t");
    assertThat(t.contiguous()).isFalse();
    assertThat(t.storage()).isSameAs(w.storage());
    assertThat(t.endElement()).isEqualTo(6);
    assertThat(((Py.Tensor) d.map().get("p")).storage().dtype()).isEqualTo(DType.BF16);
    assertThat(d.map().get("lr")).isEqualTo(0.001);
    assertThat(d.map().get("big")).hasToString("18446744073709551616");
    assertThat(d.map().get("neg")).isEqualTo(-5L);
    assertThat(d.map().get("none")).isSameAs(Py.NONE);
  }

  @Test
  void osSystemThroughReduceIsRefusedAtItsGlobal() {
    refused(Pickles.proto2().global("os", "system").mark().str("touch /tmp/pwned").op('t').op('R').stop(),
        "global 'os.system' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte 2)");
    refused(Pickles.proto2().global("posix", "system").mark().str("id").op('t').op('R').stop(),
        "global 'posix.system' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte 2)");
    refused(Pickles.proto2().global("subprocess", "Popen").stop(),
        "global 'subprocess.Popen' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte 2)");
  }

  @Test
  void execEvalAndGetattrChainsAreRefused() {
    refused(Pickles.proto2().global("builtins", "exec").mark().str("import os").op('t').op('R').stop(),
        "global 'builtins.exec' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte 2)");
    refused(Pickles.proto2().global("__builtin__", "eval").mark().str("1").op('t').op('R').stop(),
        "global '__builtin__.eval' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte 2)");
    // builtins.getattr(collections.OrderedDict, '__init__'): an allowed global as the object of a getattr
    refused(Pickles.proto2().global("builtins", "getattr").mark().global("collections", "OrderedDict")
        .str("__init__").op('t').op('R').stop(),
        "global 'builtins.getattr' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte 2)");
    // torch.<anything> that is not a storage type, and names that look close to allowed ones
    refused(Pickles.proto2().global("torch", "load").stop(),
        "global 'torch.load' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte 2)");
    refused(Pickles.proto2().global("torch._utils", "_rebuild_tensor_v2.__globals__").stop(),
        "global 'torch._utils._rebuild_tensor_v2.__globals__' is not allowed; " + ALLOWED
            + " (opcode GLOBAL at byte 2)");
  }

  @Test
  void nestedAndMemoisedGlobalsAreRefused() {
    // {'model': OrderedDict(w=os.system('id'))}: the global sits deep inside allowed containers
    Pickles nested = Pickles.proto2().op('}').mark().str("model").global("collections", "OrderedDict").op(')')
        .op('R').mark().str("w");
    int at = nested.bytes().length;
    refused(nested.global("os", "system").mark().str("id").op('t').op('R').op('u').op('u').stop(),
        "global 'os.system' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte " + at + "), building the value of"
            + " 'model.w'");
    // STACK_GLOBAL from memoised strings
    Pickles memo = Pickles.proto2().str("os").op('q', 0).str("system").op('q', 1).op('0').op('0').op('h', 0)
        .op('h', 1);
    int sg = memo.bytes().length;
    refused(memo.op(0x93).stop(),
        "global 'os.system' is not allowed; " + ALLOWED + " (opcode STACK_GLOBAL at byte " + sg + ")");
    // an allowed name memoised, fetched back and called as what it is not
    Pickles storage = Pickles.proto2().global("torch", "FloatStorage").op('q', 0).op('0').op('h', 0).op(')');
    int r = storage.bytes().length;
    refused(storage.op('R').stop(), "REDUCE of 'torch.FloatStorage': a storage type may only appear in a"
        + " persistent id (opcode REDUCE at byte " + r + ")");
    refused(Pickles.proto2().op('h', 7).stop(), "memo entry 7 was never stored (opcode BINGET at byte 2)");
  }

  @Test
  void instObjNewobjExtAndUnknownOpcodesAreRefused() {
    refused(Pickles.proto2().mark().str("id").op('i').raw("os\nsystem\n".getBytes(StandardCharsets.US_ASCII))
            .stop(), "opcode INST is not allowed in a checkpoint (it is not used by state dicts, or it runs code)"
            + " (opcode INST at byte 10)");
    refused(Pickles.proto2().mark().global("collections", "OrderedDict").op('o').stop(),
        "opcode OBJ is not allowed in a checkpoint (it is not used by state dicts, or it runs code)"
            + " (opcode OBJ at byte 28)");
    refused(Pickles.proto2().global("collections", "OrderedDict").op(')').op(0x81).stop(),
        "opcode NEWOBJ is not allowed in a checkpoint (it is not used by state dicts, or it runs code)"
            + " (opcode NEWOBJ at byte 28)");
    for (int[] ext : new int[][] {{0x82, 1}, {0x83, 1, 0}, {0x84, 1, 0, 0, 0}}) {
      String name = ext[0] == 0x82 ? "EXT1" : ext[0] == 0x83 ? "EXT2" : "EXT4";
      refused(Pickles.proto2().op(ext).stop(), "opcode " + name + " is not allowed in a checkpoint (it is not used"
          + " by state dicts, or it runs code) (opcode " + name + " at byte 2)");
    }
    refused(Pickles.proto2().op('I').raw("1\n".getBytes(StandardCharsets.US_ASCII)).stop(),
        "opcode INT is not allowed in a checkpoint (it is not used by state dicts, or it runs code)"
            + " (opcode INT at byte 2)");
    refused(Pickles.proto2().op(0x97).stop(), "opcode NEXT_BUFFER is not allowed in a checkpoint (it is not used by"
        + " state dicts, or it runs code) (opcode NEXT_BUFFER at byte 2)");
    refused(Pickles.proto2().op(0xff).stop(), "unknown opcode 0xff (opcode 0xff at byte 2)");
  }

  @Test
  void reduceAndBuildOfAnythingElseAreRefused() {
    refused(Pickles.proto2().str("os.system").op(')').op('R').stop(),
        "REDUCE calls a string, not an allowed function (opcode REDUCE at byte 17)");
    refused(Pickles.proto2().op('}').op('}').op('b').stop(),
        "BUILD of a dict with a dict (only an OrderedDict's attributes may be set) (opcode BUILD at byte 4)");
    refused(Pickles.proto2().global("collections", "OrderedDict").op(')').op('R').op(']').op('b').stop(),
        "BUILD of an OrderedDict with a list (only an OrderedDict's attributes may be set) (opcode BUILD at byte 30)");
    refused(Pickles.proto2().global("collections", "OrderedDict").mark().op(']').op('t').op('R').stop(),
        "REDUCE of 'collections.OrderedDict' with 1 arguments (expected none) (opcode REDUCE at byte 30)");
    refused(Pickles.proto2().global("torch._utils", "_rebuild_tensor_v2").mark().str("x").op('t').op('R').stop(),
        "REDUCE of 'torch._utils._rebuild_tensor_v2' with arguments (a string); expected (storage, int offset, size"
            + " tuple, stride tuple, bool, empty OrderedDict[, metadata]) (opcode REDUCE at byte 43)");
    // backward hooks that are not empty would be callables to run
    Pickles hooks = Pickles.proto2().global("torch._utils", "_rebuild_tensor_v2").mark().mark().str("storage")
        .global("torch", "FloatStorage").str("0").str("cpu").binint(1).op('t').op('Q').binint(0).op(')').op(')')
        .op(0x89).op('}').str("h").op('N').op('s').op('t');
    int r = hooks.bytes().length;
    refused(hooks.op('R').stop(), "REDUCE of 'torch._utils._rebuild_tensor_v2' with arguments (a storage, an int,"
        + " a tuple, a tuple, a bool, a dict); expected (storage, int offset, size tuple, stride tuple, bool, empty"
        + " OrderedDict[, metadata]) (opcode REDUCE at byte " + r + ")");
  }

  @Test
  void persistentIdsNameOnlyStoragesWithSafeKeys() {
    refused(Pickles.proto2().mark().str("storage").global("collections", "OrderedDict").str("0").str("cpu")
            .binint(1).op('t').op('Q').stop(),
        "persistent id names 'collections.OrderedDict', not a storage type (opcode BINPERSID at byte 60)");
    refused(Pickles.proto2().mark().str("storage").global("torch", "FloatStorage").str("../../etc/passwd")
            .str("cpu").binint(1).op('t').op('Q').stop(),
        "storage key '../../etc/passwd' is not 1-64 letters, digits or '_' (opcode BINPERSID at byte 70)");
    refused(Pickles.proto2().str("x").op('Q').stop(), "persistent id a string is not ('storage',"
        + " torch.<Type>Storage, key, location, size) (opcode BINPERSID at byte 8)");
  }

  @Test
  void tensorsMustLieInsideTheirStorage() {
    refused(Pickles.proto2().tensor("FloatStorage", "0", 6, 1, new int[] {2, 3}, new int[] {3, 1}).stop(),
        "tensor of size [2, 3], stride [3, 1] and offset 1 reaches element 7 of storage '0', which has 6 elements"
            + " (opcode REDUCE at byte 148)");
    refused(Pickles.proto2().tensor("FloatStorage", "0", 6, 0, new int[] {0x7fffffff, 0x7fffffff, 0x7fffffff},
            new int[] {1, 1, 1}).stop(),
        "tensor of size [2147483647, 2147483647, 2147483647] and stride [1, 1, 1] overflows (opcode REDUCE at byte"
            + " 158)");
    refused(Pickles.proto2().tensor("FloatStorage", "0", 6, 0, new int[] {2}, new int[] {-1}).stop(),
        "tensor stride holds -1, expected integers >= 0 (opcode REDUCE at byte 138)");
    // an expanded view (strides 0) of one element whose element count fits a long but its bytes do not: it was
    // pushed, and pull --as safetensors failed with "long overflow"
    assertThatThrownBy(() -> load(Pickles.proto2().tensor("FloatStorage", "0", 1, 0,
            new int[] {0x7fffffff, 0x7fffffff, 2}, new int[] {0, 0, 0}).stop()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.pt: archive/data\\.pkl: tensor of size \\[2147483647, 2147483647, 2\\] and stride"
            + " \\[0, 0, 0\\] overflows \\(opcode REDUCE at byte \\d+\\)");
  }

  /**
   * A refused global was named with its byte only, not where in the checkpoint it is: an {@code argparse.Namespace}
   * under {@code args} (built by NEWOBJ, as Python pickles it), a storage type Ferry does not hold in a list. Both
   * now name the value they are part of, as the tensor table would.
   */
  @Test
  void aRefusedGlobalNamesTheValueItIsPartOf() {
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("ok").int1(1).str("args")
            .global("argparse", "Namespace").op(')').op(0x81).op('}').op('b').op('u').stop()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("m.pt: archive/data.pkl: global 'argparse.Namespace' is not allowed; ")
        .hasMessageEndingWith(" (opcode GLOBAL at byte 22), building the value of 'args'");
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').str("w").op(']').mark()
            .tensor("FloatStorage", "0", 2, 0, new int[] {2}, new int[] {1})
            .tensor("ComplexHalfStorage", "1", 2, 0, new int[] {2}, new int[] {1}).op('e').op('s').stop()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageStartingWith("m.pt: archive/data.pkl: storage type 'torch.ComplexHalfStorage' is one")
        .hasMessageEndingWith("), building the value of 'w.1'");
  }

  /**
   * A tensor that does not fit its storage (or whose storage is refused) was refused naming the storage and the
   * opcode's byte, not the tensor: the error now names the dotted name the value would have had, read from the keys
   * already on the stack (a dict's SETITEMS pushes each key before its value), where the stack says it unambiguously.
   */
  @Test
  void aTensorThatDoesNotFitItsStorageIsNamed() {
    String bad = "tensor of size [2, 3], stride [3, 1] and offset 1 reaches element 7 of storage '0', which has 6"
        + " elements (opcode REDUCE at byte ";
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("ok").binint(1).str("w")
            .tensor("FloatStorage", "0", 6, 1, new int[] {2, 3}, new int[] {3, 1}).op('u').stop()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.pt: archive/data\\.pkl: " + java.util.regex.Pattern.quote(bad)
            + "\\d+\\), building the value of 'w'");
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("model").op('}').mark().str("a").binint(1)
            .str("fc.w").tensor("FloatStorage", "0", 6, 1, new int[] {2, 3}, new int[] {3, 1}).op('u').op('u')
            .stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageEndingWith("), building the value of 'model.fc.w'");
    // a storage refused as a tensor builder's argument: the tensor is named too
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("ok").binint(1).str("w")
            .tensor("FloatStorage", "../x", 6, 0, new int[] {6}, new int[] {1}).op('u').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageMatching("m\\.pt: archive/data\\.pkl: storage key"
            + " '\\.\\./x' is not 1-64 letters, digits or '_' \\(opcode BINPERSID at byte \\d+\\), building the"
            + " value of 'w'");
    // a tensor wrapped in a Parameter: its builder and its storage are arguments of _rebuild_parameter (in a marked
    // tuple, or in a TUPLE3 as torch writes it)
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("ok").binint(1).str("p")
            .global("torch._utils", "_rebuild_parameter").mark()
            .tensor("FloatStorage", "0", 6, 1, new int[] {2, 3}, new int[] {3, 1}).op(0x89)
            .global("collections", "OrderedDict").op(')').op('R').op('t').op('R').op('u').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith("m.pt: archive/data.pkl: " + bad)
        .hasMessageEndingWith("), building the value of 'p'");
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("ok").binint(1).str("p")
            .global("torch._utils", "_rebuild_parameter")
            .tensor("FloatStorage", "../x", 6, 0, new int[] {6}, new int[] {1}).op(0x89)
            .global("collections", "OrderedDict").op(')').op('R').op(0x87).op('R').op('u').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith("m.pt: archive/data.pkl: storage key")
        .hasMessageEndingWith("), building the value of 'p'");
    // {'a': 1, 'm': {'w': t}} with 'w' set by SETITEM: on the stack, 'w' could as well be a third key of the outer
    // dict; the opcodes after it say which
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("a").binint(1).str("m").op('}').str("w")
            .tensor("FloatStorage", "0", 6, 1, new int[] {2, 3}, new int[] {3, 1}).op('s').op('u').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith("m.pt: archive/data.pkl: " + bad)
        .hasMessageEndingWith("), building the value of 'm.w'");
    // a value that is a dict's key, or not part of what STOP returns, has no name
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("a").binint(1)
            .tensor("FloatStorage", "0", 6, 1, new int[] {2, 3}, new int[] {3, 1}).binint(2).op('u').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageEndingWith(")");
    assertThatThrownBy(() -> load(Pickles.proto2().tensor("FloatStorage", "0", 6, 1, new int[] {2, 3},
            new int[] {3, 1}).op('}').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageEndingWith(")");
  }

  /**
   * A refused BUILD and a refused dict key were reported by opcode and byte alone, where a refused REDUCE or global
   * names the value it is part of: they now name the value being built, or the dict whose key is refused, by its
   * dotted name.
   */
  @Test
  void aRefusedBuildOrDictKeyNamesTheValueItIsPartOf() {
    // {'model': {'ok': 1, 'cfg': {} BUILD {}}}: BUILD of a plain dict
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').mark().str("model").op('}').mark().str("ok").binint(1)
            .str("cfg").op('}').op('}').op('b').op('u').op('u').stop()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.pt: archive/data\\.pkl: BUILD of a dict with a dict \\(only an OrderedDict's"
            + " attributes may be set\\) \\(opcode BUILD at byte \\d+\\), building the value of 'model\\.cfg'");
    // {'layers': [1, {[]: 2}]} by SETITEM, by SETITEMS and by DICT
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').str("layers").op(']').mark().binint(1).op('}').op(']')
            .binint(2).op('s').op('e').op('s').stop()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageMatching("m\\.pt: archive/data\\.pkl: dict key of type a list \\(keys may be .*\\) \\(opcode"
            + " SETITEM at byte \\d+\\), building the value of 'layers\\.1'");
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').str("layers").op(']').mark().binint(1).op('}').mark()
            .op(']').binint(2).op('u').op('e').op('s').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageEndingWith("), building the value of 'layers.1'");
    assertThatThrownBy(() -> load(Pickles.proto2().op('}').str("layers").op(']').mark().binint(1).mark()
            .op(']').binint(2).op('d').op('e').op('s').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageEndingWith("), building the value of 'layers.1'");
  }

  /**
   * A tensor in a list was refused without a name: above a list's mark a value may be an item or part of one (a
   * short tuple is built without a mark), which the stack does not say. The opcodes after the error do: the item is
   * now named by its index, as the tensor table names it ({@code layers.3}, {@code layers.1.1} in a pair).
   */
  @Test
  void aTensorInAListIsNamedByItsIndex() {
    int[] six = {6};
    int[] one = {1};
    // {'layers': [t, t, t, bad]}, the items after a mark, then APPENDS
    Pickles items = Pickles.proto2().op('}').str("layers").op(']').mark();
    for (int i = 0; i < 3; i++) {
      items.tensor("FloatStorage", "0", 6, 0, six, one);
    }
    assertThatThrownBy(() -> load(items.tensor("FloatStorage", "0", 6, 1, new int[] {2, 3}, new int[] {3, 1})
            .op('e').op('s').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageEndingWith("), building the value of 'layers.3'");
    // {'layers': [(w, b), (w, bad)]}: pairs are TUPLE2s, built without a mark
    Pickles pairs = Pickles.proto2().op('}').str("layers").op(']').mark()
        .tensor("FloatStorage", "0", 6, 0, six, one).tensor("FloatStorage", "0", 6, 0, six, one).op(0x86)
        .tensor("FloatStorage", "0", 6, 0, six, one);
    assertThatThrownBy(() -> load(pairs.tensor("FloatStorage", "../x", 6, 0, six, one).op(0x86).op('e').op('s')
            .stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageStartingWith("m.pt: archive/data.pkl: storage key")
        .hasMessageEndingWith("), building the value of 'layers.1.1'");
    // one item appended by APPEND, to a list that has two already, in a list
    Pickles appended = Pickles.proto2().op(']').mark().op(']').mark()
        .tensor("FloatStorage", "0", 6, 0, six, one).tensor("FloatStorage", "0", 6, 0, six, one).op('e');
    assertThatThrownBy(() -> load(appended.tensor("FloatStorage", "0", 6, 1, new int[] {2, 3}, new int[] {3, 1})
            .op('a').op('e').stop()))
        .isInstanceOf(InvalidInputException.class).hasMessageEndingWith("), building the value of '0.2'");
  }

  /**
   * An empty tensor whose offset lies past its storage's end (what {@code t.set_(storage, 10, (0,))} makes on a storage
   * of 4 elements) is loaded by {@code torch.load(weights_only=True)}; it was refused as reaching past its storage.
   */
  @Test
  void anEmptyTensorWhoseOffsetIsPastItsStoragesEndIsTakenWithNoBytes() throws Exception {
    Object t = load(Pickles.proto2().tensor("FloatStorage", "0", 4, 10, new int[] {0}, new int[] {1}).stop());
    assertThat(t).isInstanceOfSatisfying(Py.Tensor.class, tensor -> {
      assertThat(tensor.elements()).isZero();
      assertThat(tensor.shape()).containsExactly(0L);
      assertThat(tensor.offset()).as("read as the storage's end").isEqualTo(4);
    });
    Object emptyRows = load(Pickles.proto2().tensor("FloatStorage", "0", 4, 7, new int[] {3, 0},
        new int[] {0, 1}).stop());
    assertThat(((Py.Tensor) emptyRows).offset()).isEqualTo(4);
    // one element past the end is still refused
    refused(Pickles.proto2().tensor("FloatStorage", "0", 4, 4, new int[] {1}, new int[] {1}).stop(),
        "tensor of size [1], stride [1] and offset 4 reaches element 5 of storage '0', which has 4 elements"
            + " (opcode REDUCE at byte 138)");
  }

  @Test
  void hugeLengthsAreRefusedBeforeAnythingIsAllocated() {
    refused(Pickles.proto2().op('X').raw(Pickles.le32(0xfffffff0)).raw(new byte[] {'a', 'b'}).stop(),
        "length 4294967280 runs past the end of the pickle (3 bytes left of 10) (opcode BINUNICODE at byte 2)");
    refused(Pickles.proto2().op(0x8d).raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
            .putLong(1L << 62).array()).stop(),
        "length 4611686018427387904 runs past the end of the pickle (1 bytes left of 12) (opcode BINUNICODE8 at"
            + " byte 2)");
    refused(Pickles.proto2().op(0x8b).raw(Pickles.le32(-1)).stop(),
        "negative length -1 (opcode LONG4 at byte 2)");
    refused(Pickles.proto2().op(0x8a, 65).raw(new byte[65]).stop(),
        "length 65 is over the limit of 64 bytes (opcode LONG1 at byte 2)");
    byte[] big = new byte[TorchLimits.MAX_STRING_BYTES + 1];
    refused(Pickles.proto2().op('B').raw(Pickles.le32(big.length)).raw(big).stop(),
        "length 1048577 is over the limit of 1048576 bytes (opcode BINBYTES at byte 2)");
    refused(Pickles.proto2().op(0x95).raw(ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN)
            .putLong(-1).array()).stop(),
        "frame of 18446744073709551615 bytes runs past the end of the pickle (12 bytes) (opcode FRAME at byte 2)");
  }

  @Test
  void deepNestingAndOpenMarksAreBounded() {
    Pickles marks = Pickles.proto2();
    for (int i = 0; i <= TorchLimits.MAX_MARKS; i++) {
      marks.mark();
    }
    refused(marks.stop(), "more than 1000 open marks (nesting too deep) (opcode MARK at byte 1002)");
  }

  /**
   * torch.save's state dict pickles to 20 values a tensor (the tensor's name, its storage's persistent id, its offset,
   * size, stride and hooks, memo reads of the shared globals and strings): a checkpoint of {@link
   * TorchLimits#MAX_TENSORS} tensors makes 10,000,000. The bound on values was 8 << 20, so a checkpoint of more than
   * about 419,000 tensors was refused though the tensor limit and the docs allow 500,000.
   */
  @Test
  void asManyValuesAsTorchSaveMakesForTheMostTensorsAreRead() throws Exception {
    int values = 20 * TorchLimits.MAX_TENSORS;
    Pickles p = Pickles.proto2().op(']');
    for (int done = 1; done < values; done += 1001) {
      p.mark();
      for (int i = 0; i < 1000; i++) {
        p.op('N');
      }
      p.op('e');
    }
    Object list = Unpickler.load("big.pkl", ByteBuffer.wrap(p.stop().bytes()));
    assertThat(((Py.PyList) list).items()).hasSizeGreaterThan(values - values / 1000 - 1000);
  }

  /**
   * Python pickles a str holding a lone surrogate as UTF-8 with surrogatepass, and torch.load reads it; Ferry cannot
   * hold one, and said only "string is not valid UTF-8", naming neither the string nor where it was nor the way out.
   */
  @Test
  void aStringWithALoneSurrogateIsNamedWithWhereItIsAndTheWayOut() {
    byte[] surrogate = {'a', (byte) 0xed, (byte) 0xa0, (byte) 0x80};
    Pickles value = Pickles.proto2().op('}').str("opt").op('}').str("lr").op('X').raw(Pickles.le32(4)).raw(surrogate)
        .op('s').op('s').stop();
    refused(value, "string 'a\\xed\\xa0\\x80' is not valid UTF-8 (Python pickles a str holding a lone surrogate so;"
        + " Ferry cannot hold one); push --opaque GLOB stores the file as its bytes, unread (opcode BINUNICODE at byte"
        + " 19), building the value of 'opt.lr'");
    Pickles key = Pickles.proto2().op('}').str("opt").op('}').mark().op('X').raw(Pickles.le32(4)).raw(surrogate)
        .int1(1).op('u').op('s').stop();
    refused(key, "string 'a\\xed\\xa0\\x80' is not valid UTF-8 (Python pickles a str holding a lone surrogate so;"
        + " Ferry cannot hold one); push --opaque GLOB stores the file as its bytes, unread (opcode BINUNICODE at byte"
        + " 13), a key of the dict 'opt'");
  }

  @Test
  void memoEntriesOutOfSequenceAreBounded() {
    Pickles p = Pickles.proto2().op('N');
    for (int i = 0; i <= TorchLimits.MAX_SPARSE_MEMO; i++) {
      p.op('r').raw(Pickles.le32(1000 + 2 * i));
    }
    refused(p.stop(), "more than 65536 memo entries out of sequence (opcode LONG_BINPUT at byte "
        + (3 + 5 * TorchLimits.MAX_SPARSE_MEMO) + ")");
  }

  /**
   * Python's unpickler (and torch.load, weights_only or not) returns the value on top of the stack at STOP and leaves
   * what lies below it, values or open marks; Ferry refused such a pickle, and now reads it the same way.
   */
  @Test
  void stopReturnsTheTopValueAndLeavesTheRestAsPythonDoes() throws Exception {
    assertThat(load(Pickles.proto2().op('N').op('}').int1(7).stop())).isEqualTo(7L);
    assertThat(load(Pickles.proto2().op('N').mark().op(']').mark().int1(7).stop())).isEqualTo(7L);
  }

  /**
   * Python's unpickler stops reading at STOP: bytes after it in {@code data.pkl} are never read (torch.load loads such
   * a checkpoint), so Ferry reads it too, where it refused it ("8 bytes follow the STOP opcode").
   */
  @Test
  void bytesAfterStopAreLeftUnreadAsPythonDoes() throws Exception {
    assertThat(load(Pickles.proto2().int1(5).stop().op('N'))).isEqualTo(5L);
    assertThat(load(Pickles.proto2().int1(7).stop().raw(new byte[] {'j', 'u', 'n', 'k'}))).isEqualTo(7L);
  }

  @Test
  void truncatedAndMalformedPicklesAreRefused() {
    refused(Pickles.proto2().op('}'), "the pickle ends at byte 3 without a STOP opcode (truncated)");
    refused(Pickles.proto2().op('J', 1, 2), "needs 4 more bytes, the pickle ends at byte 5 (truncated) (opcode BININT"
        + " at byte 2)");
    refused(new Pickles().op('}').stop(), "a checkpoint pickle starts with PROTO (protocol 2 or later), not"
        + " EMPTY_DICT (opcode EMPTY_DICT at byte 0)");
    refused(new Pickles().op(0x80, 6).op('}').stop(), "pickle protocol 6 is not supported (expected 2 to 5)"
        + " (opcode PROTO at byte 0)");
    refused(Pickles.proto2().op('}').mark().stop(), "STOP with an open mark and no value above it (opcode STOP at"
        + " byte 4)");
    refused(Pickles.proto2().stop(), "STOP with no value on the stack (opcode STOP at byte 2)");
    refused(Pickles.proto2().op('a').stop(), "the stack is empty (opcode APPEND at byte 2)");
    refused(Pickles.proto2().op('}').op(']').op('N').op('s').stop(),
        "dict key of type a list (keys may be strings, integers, floats, booleans, None or tuples of them) (opcode"
            + " SETITEM at byte 5)");
    refused(Pickles.proto2().op('c').raw(new byte[300]).stop(),
        "GLOBAL has no end of line within 256 bytes (truncated or not a name) (opcode GLOBAL at byte 2)");
  }

  /**
   * {@code True} as a tensor's storage offset is refused, as torch 2.13 and 1.13 refuse it ({@code Tensor.set_} takes
   * no bool for its offset, though a bool is an int elsewhere in Python).
   */
  @Test
  void aBooleanStorageOffsetIsRefusedAsTorchRefusesIt() {
    refused(Pickles.proto2().global("torch._utils", "_rebuild_tensor_v2").mark().mark().str("storage")
        .global("torch", "FloatStorage").str("0").str("cpu").binint(6).op('t').op('Q').op(0x88).mark().binint(6)
        .op('t').mark().binint(1).op('t').op(0x89).global("collections", "OrderedDict").op(')').op('R').op('t')
        .op('R').stop(), "REDUCE of 'torch._utils._rebuild_tensor_v2' with arguments (a storage, a bool, a tuple, a"
        + " tuple, a bool, an OrderedDict); expected (storage, int offset, size tuple, stride tuple, bool, empty"
        + " OrderedDict[, metadata]) (opcode REDUCE at byte 134)");
  }

  /**
   * {@code POP} right after a {@code MARK} pops the mark, as Python's unpickler does (it was refused, "the stack is
   * empty above the mark"); a {@code POP} with neither a value nor a mark above the floor is still refused.
   */
  @Test
  void popWithAMarkOnTopPopsTheMark() throws InvalidInputException {
    assertThat(load(Pickles.proto2().op('}').mark().op('0').stop())).isInstanceOf(Py.Dict.class);
    Py.Tuple t = (Py.Tuple) load(Pickles.proto2().mark().op('N').mark().op('0').op('t').stop());
    assertThat(t.items()).containsExactly(Py.NONE);
    refused(Pickles.proto2().op('0').stop(), "the stack is empty (opcode POP at byte 2)");
  }

  /**
   * A tuple is a dict key as torch's weights-only loader reads it (it was refused, "dict key of type a tuple"), equal
   * to another as Python compares them: {@code (1, 'a')} and {@code (True, 'a')} are one key, the first form kept with
   * the last value. A tuple holding what no key may be is refused.
   */
  @Test
  void tuplesAreDictKeysComparedAsPythonComparesThem() throws InvalidInputException {
    Py.Dict d = (Py.Dict) load(Pickles.proto2().op('}').mark()
        .int1(1).str("a").op(0x86).int1(7)
        .op(0x88).str("a").op(0x86).int1(8)
        .mark().op(0x89).op('N').op(0x85).op('t').int1(9)
        .op('u').stop());
    assertThat(d.map()).hasSize(2);
    Py.TupleKey first = (Py.TupleKey) d.map().keySet().iterator().next();
    assertThat(first.items()).containsExactly(1L, "a");
    assertThat(d.map().get(first)).isEqualTo(8L);
    refused(Pickles.proto2().op('}').op(']').op(0x85).op('N').op('s').stop(),
        "dict key of a tuple holding a list (keys may be strings, integers, floats, booleans, None or tuples of"
            + " them) (opcode SETITEM at byte 6)");
  }

  /** {@code torch.serialization._get_layout} of a name that is no torch.layout (torch raises KeyError) is refused. */
  @Test
  void aLayoutOfNoKnownNameIsRefused() {
    Pickles p = Pickles.proto2().global("torch.serialization", "_get_layout").str("torch.nope").op(0x85);
    int at = p.bytes().length;
    refused(p.op('R').stop(), "REDUCE of 'torch.serialization._get_layout' with arguments ('torch.nope'); expected"
        + " the name of a torch.layout, one of [torch._mkldnn, torch.jagged, torch.sparse_bsc, torch.sparse_bsr,"
        + " torch.sparse_coo, torch.sparse_csc, torch.sparse_csr, torch.strided] (opcode REDUCE at byte " + at + ")");
  }

  /**
   * A float is a dict key as torch's weights-only loader reads it (it was refused, "dict key of type a float"), equal
   * to an integer of its value as Python compares them ({@code {1: a, 1.0: b}} is {@code {1: b}}), and named by the
   * digits Python's repr writes.
   */
  @Test
  void floatsAreDictKeysComparedAndNamedAsPythonDoes() throws InvalidInputException {
    Py.Dict d = (Py.Dict) load(Pickles.proto2().op('}').mark()
        .int1(1).int1(7).op('G').raw(ByteBuffer.allocate(8).putDouble(1.0).array()).int1(8)
        .op('G').raw(ByteBuffer.allocate(8).putDouble(-0.0).array()).int1(9).op(0x89).int1(10)
        .op('G').raw(ByteBuffer.allocate(8).putDouble(0.5).array()).int1(11)
        .op('u').stop());
    assertThat(d.map()).containsExactly(Map.entry(1L, 8L), Map.entry(-0.0, 10L), Map.entry(0.5, 11L));
    String[] hex = {"0x1.0p-1", "0x1.4f8b588e368f1p-17", "0x1.a36e2eb1c432dp-14", "0x1.1c37937e08p+53",
        "0x1.aa535d3d0cp+53", "0x1.c6bf52634p+49", "0x1.d6f34547df3b6p+26", "0x1.999999999999ap-4",
        "0x1.5555555555555p-2", "-0x1.ac9a7b3b7302fp-996", "0x0.0000000000001p-1022", "0x1.fffffffffffffp+1023",
        "0x1.9p+6", "-0x0.0p+0", "0x1.0f0cf064dd592p+73", "0x1.437c5692b3cc5p-10", "0x1.0p+1", "0x1.3333333333334p-2",
        "0x1.05e1c15097c81p-10"};
    // Python 3's repr of each
    String[] repr = {"0.5", "1e-05", "0.0001", "1e+16", "1.5e+16", "1000000000000000.0", "123456789.123", "0.1",
        "0.3333333333333333", "-2.5e-300", "5e-324", "1.7976931348623157e+308", "100.0", "-0.0", "1e+22", "0.001234",
        "2.0", "0.30000000000000004", "0.000999"};
    for (int i = 0; i < hex.length; i++) {
      assertThat(TorchCheckpoint.floatRepr(Double.parseDouble(hex[i]))).as(hex[i]).isEqualTo(repr[i]);
    }
    assertThat(TorchCheckpoint.floatRepr(Double.NaN)).isEqualTo("nan");
    assertThat(TorchCheckpoint.floatRepr(Double.NEGATIVE_INFINITY)).isEqualTo("-inf");
  }

  @Test
  void storagesNamedTwiceMustAgree() {
    refused(Pickles.proto2().mark().tensor("FloatStorage", "0", 6, 0, new int[] {6}, new int[] {1})
            .tensor("HalfStorage", "0", 6, 0, new int[] {6}, new int[] {1}).op('t').stop(),
        "storage '0' is named as 6 elements of F16 here and as 6 elements of F32 before (opcode BINPERSID at byte"
            + " 226), building the value of '1'");
  }

  @Test
  void allowedNamesAreExactlyTheDocumentedOnes() {
    assertThat(Unpickler.CALLABLES).containsExactly("collections.OrderedDict", "collections.Counter",
        "torch._utils._rebuild_tensor", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3",
        "torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state",
        "torch._utils._rebuild_meta_tensor_no_storage", "torch._tensor._rebuild_from_type_v2", "torch.Size",
        "torch.device", "torch.serialization._get_layout", "builtins.set", "builtins.bytearray", "builtins.complex",
        "_codecs.encode");
    assertThat(Unpickler.CLASSES).containsExactly("torch.Tensor", "torch.nn.parameter.Parameter");
    assertThat(Unpickler.STORAGE_TYPES.keySet()).containsExactlyInAnyOrder("FloatStorage", "DoubleStorage",
        "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage", "ShortStorage", "CharStorage", "ByteStorage",
        "BoolStorage", "ComplexFloatStorage", "ComplexDoubleStorage");
    assertThat(List.copyOf(Unpickler.STORAGE_TYPES.values())).doesNotContainNull();
    assertThat(Unpickler.TENSOR_DTYPES.keySet()).doesNotContainAnyElementsOf(Unpickler.OTHER_DTYPES);
  }

  /**
   * The plain values torch 2's {@code weights_only} loader reads besides tensors, each as Python pickles it with
   * protocol 2 ({@code __builtin__} names, bytes through {@code _codecs.encode}) and with protocol 4's opcodes: they
   * were refused, so a checkpoint that records its shapes, device or dtype could not be pushed.
   */
  @Test
  void valuesTheWeightsOnlyLoaderReadsAreRead() throws Exception {
    Pickles p = Pickles.proto2().op('}').mark()
        .str("size").global("torch", "Size").mark().int1(2).int1(3).op('t').op(0x85).op('R')
        .str("cpu").global("torch", "device").str("cpu").op(0x85).op('R')
        .str("gpu").global("torch", "device").str("cuda").int1(1).op(0x86).op('R')
        .str("dtype").global("torch", "bfloat16")
        .str("q").global("torch", "qint8")
        .str("bytes").global("_codecs", "encode").str("ab\u00ff").str("latin1").op(0x86).op('R')
        .str("ba").global("__builtin__", "bytearray").op(')').op('R')
        .str("set").global("__builtin__", "set").op(']').mark().int1(1).int1(2).op('e').op(0x85).op('R')
        .str("set4").op(0x8f).mark().int1(3).op(0x90)
        .str("frozen").mark().int1(4).op(0x91)
        .str("counter").global("collections", "Counter").op('}').str("a").int1(2).op('s').op(0x85).op('R')
        .str("raw").op(0x96).raw(new byte[] {2, 0, 0, 0, 0, 0, 0, 0, 9, 10})
        .op('u').stop();
    Py.Dict d = (Py.Dict) load(p);
    assertThat(((Py.Tuple) d.map().get("size")).items()).containsExactly(2L, 3L);
    assertThat(d.map().get("cpu")).isEqualTo("cpu");
    assertThat(d.map().get("gpu")).isEqualTo("cuda:1");
    assertThat(d.map().get("dtype")).isEqualTo(new Py.TorchDType("bfloat16", DType.BF16));
    assertThat(d.map().get("dtype")).hasToString("torch.bfloat16");
    assertThat(d.map().get("q")).isEqualTo(new Py.TorchDType("qint8", null));
    assertThat(d.map().get("bytes")).isEqualTo(new Py.Bytes("6162ff"));
    assertThat(d.map().get("ba")).isEqualTo(new Py.Bytes(""));
    assertThat(((Py.PyList) d.map().get("set")).items()).containsExactly(1L, 2L);
    assertThat(((Py.PyList) d.map().get("set")).set()).isTrue();
    assertThat(((Py.PyList) d.map().get("set4")).items()).containsExactly(3L);
    assertThat(((Py.PyList) d.map().get("frozen")).items()).containsExactly(4L);
    assertThat(((Py.Dict) d.map().get("counter")).map()).containsEntry("a", 2L);
    assertThat(d.map().get("raw")).isEqualTo(new Py.Bytes("090a"));

    refused(Pickles.proto2().global("_codecs", "encode").str("x").str("utf8").op(0x86).op('R').stop(),
        "REDUCE of '_codecs.encode' with arguments (a string, 'utf8'); expected (string, 'latin1'), as pickle writes"
            + " bytes (opcode REDUCE at byte 34)");
    refused(Pickles.proto2().global("torch", "Size").mark().binint(-1).op('t').op(0x85).op('R').stop(),
        "torch.Size holds -1, expected integers >= 0 (opcode REDUCE at byte 22)");
    refused(Pickles.proto2().global("torch", "device").op(')').op('R').stop(),
        "REDUCE of 'torch.device' with arguments (); expected (type[, index]) (opcode REDUCE at byte 17)");
    refused(Pickles.proto2().global("torch", "float32").op(')').op('R').stop(),
        "REDUCE calls dtype 'torch.float32', not an allowed function (opcode REDUCE at byte 18)");
    refused(Pickles.proto2().op(0x8f).int1(1).op('a').stop(),
        "appends to a set, not a list (opcode APPEND at byte 5)");
    refused(Pickles.proto2().op(']').mark().int1(1).op(0x90).stop(),
        "adds items to a list, not a set (opcode ADDITEMS at byte 6)");
    // still refused: builtins other than set and bytearray, and what builds objects of other classes
    refused(Pickles.proto2().global("__builtin__", "frozenset").stop(),
        "global '__builtin__.frozenset' is not allowed; " + ALLOWED + " (opcode GLOBAL at byte 2)");
    refused(Pickles.proto2().global("torch._utils", "_rebuild_qtensor").stop(),
        "global 'torch._utils._rebuild_qtensor' builds a quantized tensor, which torch.load(weights_only=True) reads"
            + " but Ferry does not (it reads dense tensors only); push --opaque GLOB stores the file as its bytes,"
            + " unread (opcode GLOBAL at byte 2)");
  }

  /**
   * torch 2 pickles float8 and uint16/32/64 tensors with {@code _rebuild_tensor_v3} over an untyped storage of bytes,
   * the dtype as the last argument: offset, size and strides count elements of that dtype.
   */
  @Test
  void v3TensorsOverUntypedStoragesHaveTheirDtype() throws Exception {
    Pickles p = Pickles.proto2().op('}').mark()
        .str("f8").tensorV3("float8_e4m3fn", "0", 12, 2, new int[] {2, 5}, new int[] {5, 1})
        .str("u16").tensorV3("uint16", "1", 8, 1, new int[] {3}, new int[] {1})
        // the name Ferry's own torch files used before it wrote torch.storage.UntypedStorage, as torch does
        .str("u16b").tensorV3("torch", "uint16", "3", 8, 1, new int[] {3}, new int[] {1})
        .str("old").global("torch._utils", "_rebuild_tensor").mark()
        .mark().str("storage").global("torch", "FloatStorage").str("2").str("cpu").binint(4).op('t').op('Q')
        .binint(0).mark().binint(4).op('t').mark().binint(1).op('t').op('t').op('R')
        .op('u').stop();
    Py.Dict d = (Py.Dict) load(p);
    Py.Tensor f8 = (Py.Tensor) d.map().get("f8");
    assertThat(f8.dtype()).isEqualTo(DType.F8_E4M3);
    assertThat(f8.storage().dtype()).isEqualTo(DType.U8);
    assertThat(f8.endElement()).isEqualTo(12);
    Py.Tensor u16 = (Py.Tensor) d.map().get("u16");
    assertThat(u16.dtype()).isEqualTo(DType.U16);
    assertThat(u16.offset()).isEqualTo(1);
    assertThat(((Py.Tensor) d.map().get("u16b")).dtype()).isEqualTo(DType.U16);
    assertThat(((Py.Tensor) d.map().get("old")).dtype()).isEqualTo(DType.F32);

    // 3 uint16 from element 2 need 10 bytes; the storage has 8 (4 elements)
    Pickles over = Pickles.proto2().tensorV3("uint16", "1", 8, 2, new int[] {3}, new int[] {1});
    assertThatThrownBy(() -> load(over.stop())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("tensor of size [3], stride [1] and offset 2 reaches element 5 of storage '1', which"
            + " has 4 elements of U16");
    assertThatThrownBy(() -> load(Pickles.proto2().tensorV3("complex32", "1", 8, 0, new int[] {2},
        new int[] {1}).stop())).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("tensor of torch.complex32, a type Ferry does not hold")
        .hasMessageContaining("push --opaque GLOB stores the file as its bytes, unread");
    // the legacy format has no untyped storages
    assertThatThrownBy(() -> Unpickler.loadPrefix("m.pt", ByteBuffer.wrap(Pickles.proto2().mark().str("storage")
        .global("torch.storage", "UntypedStorage").str("0").str("cpu").binint(4).op('N').op('t').op('Q').stop()
        .bytes()))).isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("storage '0' is a torch.storage.UntypedStorage, which torch.save writes in the legacy"
            + " format");
  }

  private static Pickles npDType(Pickles p, String code, String order) {
    return p.global("numpy", "dtype").str(code).op(0x89).op(0x88).op(0x87).op('R')
        .mark().int1(3).str(order).op('N').op('N').op('N').binint(-1).binint(-1).int1(0).op('t').op('b');
  }

  private static Pickles bytesArg(Pickles p, byte[] b) {
    return p.op('C', b.length).raw(b);
  }

  /**
   * A Fortran-ordered numpy array ({@code np.asfortranarray}) is pickled with its bytes in column-major order and a
   * flag saying so; the flag was ignored, so the value was recorded as a row-major array of that shape over those
   * bytes: another array (a 2x3 of 0..5 read as [[0, 3, 1], [4, 2, 5]]). Its bytes are now recorded in row-major
   * order, as the value's JSON means them, in both of numpy's forms.
   */
  @Test
  void aFortranOrderedNumpyArrayIsRecordedInRowMajorOrder() throws Exception {
    byte[] columns = {0, 3, 1, 4, 2, 5}; // [[0, 1, 2], [3, 4, 5]] column by column
    Pickles p = Pickles.proto2().op('}').mark().str("arr")
        .global("numpy.core.multiarray", "_reconstruct").global("numpy", "ndarray").mark().int1(0).op('t')
        .op('C', 1).raw(new byte[] {'b'}).op(0x87).op('R')
        .mark().int1(1).mark().int1(2).int1(3).op('t');
    npDType(p, "u1", "|");
    bytesArg(p.op(0x88), columns).op('t').op('b');
    p.str("fb").global("numpy.core.numeric", "_frombuffer").mark();
    bytesArg(p, columns);
    npDType(p, "u1", "|");
    p.mark().int1(2).int1(3).op('t').str("F").op('t').op('R');
    Py.Dict d = (Py.Dict) load(p.op('u').stop());
    assertThat(((Py.NdArray) d.map().get("arr")).hex).isEqualTo("000102030405");
    assertThat(((Py.NdArray) d.map().get("fb")).hex).isEqualTo("000102030405");
  }

  /**
   * numpy's number arrays, dtypes and scalars, as numpy pickles them (a training checkpoint's random state, a metric
   * saved as {@code np.float64}): read as data. Object and string dtypes, and data that does not fill the shape, are
   * refused.
   */
  @Test
  void numpyNumberArraysDtypesAndScalarsAreReadAsData() throws Exception {
    Pickles p = Pickles.proto2().op('}').mark().str("arr")
        .global("numpy.core.multiarray", "_reconstruct").global("numpy", "ndarray").mark().int1(0).op('t')
        .op('C', 1).raw(new byte[] {'b'}).op(0x87).op('R')
        .mark().int1(1).mark().int1(2).op('t');
    npDType(p, "u2", "<");
    bytesArg(p.op(0x89), new byte[] {1, 0, 2, 0}).op('t').op('b');
    p.str("f8").global("numpy.core.multiarray", "scalar");
    npDType(p, "f8", "<");
    bytesArg(p, ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putDouble(0.25).array()).op(0x86).op('R');
    p.str("i4be").global("numpy._core.multiarray", "scalar");
    npDType(p, "i4", ">");
    bytesArg(p, new byte[] {-1, -1, -1, -2}).op(0x86).op('R');
    p.str("u8").global("numpy.core.multiarray", "scalar");
    npDType(p, "u8", "<");
    bytesArg(p, new byte[] {-1, -1, -1, -1, -1, -1, -1, -1}).op(0x86).op('R');
    p.str("h").global("numpy.core.multiarray", "scalar");
    npDType(p, "f2", "<");
    bytesArg(p, new byte[] {0, 0x3c}).op(0x86).op('R');
    // protocol 5's form: _frombuffer(bytearray, dtype, shape, 'C')
    p.str("fb").global("numpy.core.numeric", "_frombuffer").mark().op(0x96).raw(new byte[] {4, 0, 0, 0, 0, 0, 0, 0})
        .raw(new byte[] {1, 2, 3, 4});
    npDType(p, "i2", "<");
    p.mark().int1(2).op('t').str("C").op('t').op('R');
    Py.Dict d = (Py.Dict) load(p.op('u').stop());
    Py.NdArray fb = (Py.NdArray) d.map().get("fb");
    assertThat(fb.dtype).hasToString("<i2");
    assertThat(fb.shape).containsExactly(2L);
    assertThat(fb.hex).isEqualTo("01020304");
    Py.NdArray arr = (Py.NdArray) d.map().get("arr");
    assertThat(arr.dtype).hasToString("<u2");
    assertThat(arr.shape).containsExactly(2L);
    assertThat(arr.hex).isEqualTo("01000200");
    assertThat(d.map().get("f8")).isEqualTo(0.25);
    assertThat(d.map().get("i4be")).isEqualTo(-2L);
    assertThat(d.map().get("u8")).hasToString("18446744073709551615");
    assertThat(d.map().get("h")).isEqualTo(1.0);

    Pickles object = Pickles.proto2().global("numpy", "dtype").str("O8").op(0x89).op(0x88).op(0x87);
    int r = object.bytes().length;
    refused(object.op('R').stop(), "numpy dtype 'O8' is not a number type (Ferry reads numpy arrays of booleans,"
        + " integers, floats and complex numbers; object and string arrays hold other pickles) (opcode REDUCE at byte "
        + r + ")");
    Pickles shortData = Pickles.proto2().global("numpy.core.multiarray", "_reconstruct").global("numpy", "ndarray")
        .mark().int1(0).op('t').op('C', 1).raw(new byte[] {'b'}).op(0x87).op('R')
        .mark().int1(1).mark().int1(3).op('t');
    npDType(shortData, "u2", "<");
    bytesArg(shortData.op(0x89), new byte[] {1, 0}).op('t');
    int b = shortData.bytes().length;
    refused(shortData.op('b').stop(), "numpy array of shape [3] and dtype <u2 needs 6 bytes, its data has 2 (opcode"
        + " BUILD at byte " + b + ")");
  }

  /**
   * A complex32 or quantized storage is one torch.load(weights_only=True) reads: the refusal said a checkpoint may
   * name only what that loader reads, as if the file were unsafe; it now says Ferry has no element type for it.
   * (complex128 storages are read, as C128.)
   */
  @Test
  void storageTypesTorchReadsButFerryDoesNotHoldAreNamedAsSuch() {
    for (String type : new String[] {"ComplexHalfStorage", "QInt8Storage"}) {
      refused(Pickles.proto2().tensor(type, "0", 2, 0, new int[] {2}, new int[] {1}).stop(),
          "storage type 'torch." + type + "' is one torch.load(weights_only=True) reads, but Ferry has no element type"
              + " for it (complex32 and quantized tensors are not read); push --opaque GLOB stores the file as its"
              + " bytes, unread (opcode GLOBAL at byte 49)");
    }
  }

  /**
   * torch.save writes a quantized, sparse or nested tensor as a call of its own builder ({@code _rebuild_qtensor}…),
   * which torch.load(weights_only=True) reads: a real file of one was refused as naming a global beyond what that
   * loader reads, as if it were unsafe (the storage-type message above is never reached, the builder coming first).
   * It now says which kind of tensor it is and that Ferry does not read it.
   */
  @Test
  void tensorBuildersTorchReadsButFerryDoesNotAreNamedAsSuch() {
    String[][] cases = {{"_rebuild_qtensor", "a quantized tensor"}, {"_rebuild_sparse_tensor", "a sparse tensor"},
        {"_rebuild_sparse_csr_tensor", "a sparse CSR tensor"}, {"_rebuild_nested_tensor", "a nested tensor"}};
    for (String[] c : cases) {
      assertThatThrownBy(() -> load(Pickles.proto2().op('}').str("q").global("torch._utils", c[0]).op(')').op('R')
              .op('s').stop()))
          .isInstanceOf(InvalidInputException.class)
          .hasMessage("m.pt: archive/data.pkl: global 'torch._utils." + c[0] + "' builds " + c[1] + ", which"
              + " torch.load(weights_only=True) reads but Ferry does not (it reads dense tensors only); push --opaque"
              + " GLOB stores the file as its bytes, unread (opcode GLOBAL at byte 9), building the value of 'q'");
    }
  }

  /** {'c': _rebuild_tensor_v2(a ComplexFloatStorage of 4, 0, (4,), (1,), False, OrderedDict(), {bit: value})}. */
  private static Pickles withMetadata(String bit, boolean value) {
    return Pickles.proto2().op('}').str("c").global("torch._utils", "_rebuild_tensor_v2").mark().mark().str("storage")
        .global("torch", "ComplexFloatStorage").str("0").str("cpu").binint(4).op('t').op('Q').binint(0).mark()
        .binint(4).op('t').mark().binint(1).op('t').op(0x89).global("collections", "OrderedDict").op(')').op('R')
        .op('}').str(bit).op(value ? 0x88 : 0x89).op('s').op('t').op('R').op('s').stop();
  }

  /**
   * torch.save writes a conjugate view ({@code x.conj()}) or a negative view ({@code x.conj().imag}) as its storage's
   * bytes with the bit in the tensor's metadata, and torch.load gives the conjugate or the negation of those bytes.
   * The metadata was ignored: such a tensor was listed, read and exported as its stored bytes, values torch.load
   * never gives. It is now refused, naming the tensor and the bit.
   */
  @Test
  void aConjugateOrNegativeViewIsRefusedNotReadAsItsStoredBytes() throws Exception {
    assertThat(load(withMetadata("conj", false))).isInstanceOf(Py.Dict.class);
    for (String bit : new String[] {"conj", "neg"}) {
      assertThatThrownBy(() -> load(withMetadata(bit, true))).isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("tensor metadata sets '" + bit + "'")
          .hasMessageContaining("resolve_" + bit + "()")
          .hasMessageEndingWith("), building the value of 'c'");
    }
  }
}
