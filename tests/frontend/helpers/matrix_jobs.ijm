// Test driver of the equivalence matrix: run many CARE Restore jobs in one ImageJ, as a user's macro would.
// Argument: jobs=[file] restore=[CARE_Restore.ijm]. Each line of the jobs file has tab-separated fields
//   id  input  output  bundle  n_tiles  memory_budget  via  cli  readouts  level  n_samples   ("-": empty)
// For each job: open the input, run CARE Restore, save its result (and scale image, and each readout image as
// <output>_<name>.tif from its title <...>_<name>) with ImageJ's saveAs, print "JOB <id> <reply>", close all.
var args = getArgument();
setBatchMode(true);
lines = split(File.openAsString(o("jobs", "")), "\n");
restore = o("restore", "");
for (i = 0; i < lines.length; i++) {
	if (lengthOf(lines[i]) == 0) continue;
	j = split(lines[i], "\t");
	open(j[1]);
	pass = "bundle=[" + j[3] + "] " + kv("n_tiles", f(j[4])) + " " + kv("memory_budget", f(j[5])) + " via=[" + j[6] + "] engine=[onnxruntime] on_error=[return]";
	cli = f(j[7]);
	if (cli != "") pass = pass + " cli=[" + cli + "]";
	readouts = f(j[8]);  // assigned first: `if (f(x) != "")` is read as a number by ImageJ's interpreter
	if (readouts != "") pass = pass + " readouts=[" + readouts + "] level=[" + f(j[9]) + "] n_samples=[" + f(j[10]) + "]";
	reply = runMacro(restore, pass);
	if (startsWith(reply, "image=")) {
		image = parseInt(call("ij.Macro.getValue", reply, "image", "0"));
		scale = parseInt(call("ij.Macro.getValue", reply, "scale", "0"));
		selectImage(image);
		saveAs("Tiff", j[2]);
		if (scale != 0) {
			selectImage(scale);
			saveAs("Tiff", replace(j[2], ".tif", "_scale.tif"));
		}
		extra = call("ij.Macro.getValue", reply, "readouts", "");
		if (extra != "") {
			ids = split(extra, ",");
			for (k = 0; k < ids.length; k++) {
				selectImage(parseInt(ids[k]));
				t = getTitle();
				saveAs("Tiff", replace(j[2], ".tif", "_" + substring(t, lastIndexOf(t, "_") + 1) + ".tif"));
			}
		}
	}
	print("JOB " + j[0] + " " + reply);
	while (nImages > 0) { selectImage(nImages); close(); }
}
print("DONE");
return "done";

function o(k, d) { return call("ij.Macro.getValue", args, k, d); }
function f(v) { r = v; if (v == "-") r = ""; return r; }
// a value typed with its own brackets (n_tiles=[2 2]) is passed as typed; others are bracketed
function kv(k, v) { if (startsWith(v, "[")) return k + "=" + v; return k + "=[" + v + "]"; }
