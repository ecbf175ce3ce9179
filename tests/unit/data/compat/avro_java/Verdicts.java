// Verdicts.java - prints Avro Java's SchemaCompatibility verdict for every ordered pair
// of schemas in a corpus (one schema per line): line r is a string whose character w is
// '1' if reader r can read writer w, else '0'. Used to produce verdicts.txt; see README.md.
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;
import org.apache.avro.Schema;
import org.apache.avro.SchemaCompatibility;

public class Verdicts {
  public static void main(String[] args) throws Exception {
    List<Schema> s = new ArrayList<>();
    for (String line : Files.readAllLines(Paths.get(args[0])))
      s.add(new Schema.Parser().setValidateDefaults(true).parse(line));
    StringBuilder out = new StringBuilder();
    for (Schema reader : s) {
      for (Schema writer : s) {
        boolean ok = SchemaCompatibility.checkReaderWriterCompatibility(reader, writer).getType()
            == SchemaCompatibility.SchemaCompatibilityType.COMPATIBLE;
        out.append(ok ? '1' : '0');
      }
      out.append('\n');
    }
    System.out.print(out);
  }
}
