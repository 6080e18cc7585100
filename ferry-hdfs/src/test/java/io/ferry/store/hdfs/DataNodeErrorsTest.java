package io.ferry.store.hdfs;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.IOException;
import java.io.InterruptedIOException;
import org.junit.jupiter.api.Test;

/**
 * Hadoop's three ways of saying that no DataNode could take a write, each of which depends on when the write met the
 * stopped DataNodes (so that {@code HdfsDataNodesDownTest} sees one or another from run to run), are each told in a
 * few words; any other failure is left to Hadoop's own message.
 */
class DataNodeErrorsTest {
  @Test
  void everyWayHadoopSaysNoDataNodeCouldTakeAWriteIsToldInAFewWords() {
    assertThat(DataNodeErrors.writeUnavailable(new IOException("File /s/objects/ab/x.tmp could only be written to 0"
        + " of the 1 minReplication nodes. There are 3 datanode(s) running and 3 node(s) are excluded in this"
        + " operation.\n\tat org.apache.hadoop.hdfs.server.blockmanagement.BlockManager.chooseTarget4NewBlock")))
        .isEqualTo("no DataNode available to write to (the NameNode counts 3 running, 3 of them failed this write)");
    assertThat(DataNodeErrors.writeUnavailable(new IOException("All datanodes [DatanodeInfoWithStorage[127.0.0.1:"
        + "4001,DS-1,DISK]] are bad. Aborting...")))
        .isEqualTo("no DataNode available to write to (every DataNode of the write pipeline failed)");
    // wrapped, as the output stream's close gives it
    assertThat(DataNodeErrors.writeUnavailable(new IOException("close failed", new IOException("Failed to replace a"
        + " bad datanode on the existing pipeline due to no more good datanodes being available to try. (Nodes:"
        + " current=[DatanodeInfoWithStorage[127.0.0.1:32989,DS-e8,DISK]], original=[...]). The current failed"
        + " datanode replacement policy is DEFAULT, and a client may configure this via"
        + " 'dfs.client.block.write.replace-datanode-on-failure.policy' in its configuration.")))).isEqualTo(
            "no DataNode available to write to (none left to replace the failed ones of the write pipeline)");
    // the DataNodes stopped once the last block was written: the close gives up waiting for its replicas
    assertThat(DataNodeErrors.writeUnavailable(new IOException("Unable to close file because the last block"
        + " BP-1398020207-127.0.0.1-1796624166083:blk_1073741842_1018 does not have enough number of replicas.")))
        .startsWith("no DataNode available to write to (when the file was closed, the NameNode counted too few");
    assertThat(DataNodeErrors.writeUnavailable(new IOException("Permission denied: user=u, access=WRITE"))).isNull();
    assertThat(DataNodeErrors.writeUnavailable(new InterruptedIOException("All datanodes [x] are bad"))).isNull();
  }
}
