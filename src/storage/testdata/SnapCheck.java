// Checks corral's SNAP stream against Apache ZooKeeper's own code (storage::snap_stream tests).
//   javac -cp $CP SnapCheck.java
//   java -cp $CP:. SnapCheck write java-3.8.0.snapstream   # the stream ZooKeeper sends for a small tree; prints its nodes
//   java -cp $CP:. SnapCheck read corral.snapstream        # reads a stream as a learner does; prints sessions and nodes
// with CP=/usr/share/java/zookeeper.jar:/usr/share/java/zookeeper-jute.jar:/usr/share/java/slf4j-api.jar:/usr/share/java/slf4j-nop.jar
// (Debian's zookeeper 3.8.0 packages).
import java.io.*;
import java.util.*;
import org.apache.jute.*;
import org.apache.zookeeper.ZooDefs;
import org.apache.zookeeper.data.*;
import org.apache.zookeeper.server.*;
import org.apache.zookeeper.server.util.SerializeUtils;

public class SnapCheck {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("read")) {
            DataTree dt = new DataTree();
            Map<Long, Integer> sessions = new HashMap<>();
            DataInputStream in = new DataInputStream(new BufferedInputStream(new FileInputStream(args[1])));
            BinaryInputArchive ia = BinaryInputArchive.getArchive(in);
            SerializeUtils.deserializeSnapshot(dt, ia, sessions);
            String sig = ia.readString("signature");
            System.out.println("signature " + sig);
            System.out.println("left " + in.available());
            TreeMap<Long, Integer> s = new TreeMap<>(sessions);
            for (Map.Entry<Long, Integer> e : s.entrySet()) System.out.println("session " + e.getKey() + " " + e.getValue());
            System.out.println("nodes " + dt.getNodeCount());
            System.out.println("ephemerals " + dt.getEphemeralsCount());
            dump(dt, "/", new StringBuilder());
        } else {
            DataTree dt = new DataTree();
            List<ACL> digest = Arrays.asList(new ACL(ZooDefs.Perms.ALL, new Id("digest", "u:h=")), new ACL(ZooDefs.Perms.READ, new Id("ip", "10.0.0.0/8")));
            long z = 0;
            dt.createNode("/a", "one".getBytes(), ZooDefs.Ids.OPEN_ACL_UNSAFE, 0, -1, ++z, 1000 + z);
            dt.createNode("/a/b", new byte[] {0, (byte) 0xff}, digest, 0, -1, ++z, 1000 + z);
            dt.createNode("/a/b/e", null, digest, 0x100L, -1, ++z, 1000 + z);
            dt.createNode("/c", new byte[0], ZooDefs.Ids.READ_ACL_UNSAFE, 0, -1, ++z, 1000 + z);
            for (int i = 0; i < 50; i++) dt.createNode("/c/n" + i, ("v" + i).getBytes(), digest, i % 5 == 0 ? 0x101L : 0, -1, ++z, 1000 + z);
            dt.setData("/a", "two".getBytes(), 1, ++z, 1000 + z);
            Map<Long, Integer> sessions = new HashMap<>();
            sessions.put(0x100L, 30000);
            sessions.put(0x101L, 4000);
            FileOutputStream f = new FileOutputStream(args[1]);
            BinaryOutputArchive oa = BinaryOutputArchive.getArchive(f);
            SerializeUtils.serializeSnapshot(dt, oa, sessions);
            oa.writeString("BenWasHere", "signature");
            f.close();
            System.out.println("wrote zxid " + z + " nodes " + dt.getNodeCount());
            dump(dt, "/", new StringBuilder());
        }
    }

    /** One line per node, sorted by path: path, data (hex or null), ACLs, stat. */
    static void dump(DataTree dt, String path, StringBuilder out) throws Exception {
        TreeSet<String> paths = new TreeSet<>();
        collect(dt, "/", paths);
        for (String p : paths) {
            Stat st = new Stat();
            byte[] data = dt.getData(p, st, null);
            StringBuilder acls = new StringBuilder();
            for (ACL a : dt.getACL(p, null)) {
                acls.append(a.getPerms()).append(':').append(a.getId().getScheme()).append(':').append(a.getId().getId()).append(';');
            }
            System.out.println("node " + p + " " + hex(data) + " " + acls + " " + st.getCzxid() + "," + st.getMzxid() + ","
                + st.getCtime() + "," + st.getMtime() + "," + st.getVersion() + "," + st.getCversion() + "," + st.getAversion() + ","
                + st.getEphemeralOwner() + "," + st.getDataLength() + "," + st.getNumChildren() + "," + st.getPzxid());
        }
    }

    static void collect(DataTree dt, String path, Set<String> out) {
        out.add(path);
        for (String c : dt.getNode(path).getChildren()) collect(dt, path.equals("/") ? "/" + c : path + "/" + c, out);
    }

    static String hex(byte[] b) {
        if (b == null) return "null";
        StringBuilder s = new StringBuilder();
        for (byte x : b) s.append(String.format("%02x", x));
        return s.toString();
    }
}
