// CARE Restore Folder — restore every TIFF of a folder into an output folder (care_bridge).
//
// Options: input=[/folder/in] output=[/folder/out] bundle=[/path/model.zip] and, passed on to CARE Restore,
//   n_tiles=[auto] engine=[auto] via=[auto] cli=[...]; overwrite=[false] replaces existing results.
// One result per input, <name>-CARE.tif (and <name>-CARE-scale.tif for probabilistic bundles), saved by ImageJ.
// A file that fails is logged and skipped; the others go on. A summary is printed to the Log at the end and
// returned ("restored=N failed=M").
// Needs CARE_Restore.ijm beside this file (or in Fiji.app/scripts/Plugins/CARE/ or the macros folder).

var ARGS = "";

ARGS = getArgument();
if (ARGS == "") ARGS = askOptions();
summary = restoreFolder();
return summary;

function restoreFolder() {
	input = folder(opt("input", ""));
	output = folder(opt("output", ""));
	bundle = opt("bundle", "");
	if (input == "/" || !File.isDirectory(input))
		exit("CARE Restore Folder: input folder '" + opt("input", "") + "' does not exist; pass input=[/path/to/folder]");
	if (output == "/")
		exit("CARE Restore Folder: no output folder given; pass output=[/path/to/results]");
	if (!File.exists(bundle))
		exit("CARE Restore Folder: bundle '" + bundle + "' does not exist; pass bundle=[/path/to/model.zip]");
	if (!File.isDirectory(output)) File.makeDirectory(output);
	if (!File.isDirectory(output))
		exit("CARE Restore Folder: cannot create the output folder " + output + "; check the path and permissions");
	restoreMacro = findRestoreMacro();
	overwrite = false;
	overwriteOpt = opt("overwrite", "false");
	if (overwriteOpt == "true") overwrite = true;
	pass = "bundle=[" + bundle + "] n_tiles=[" + opt("n_tiles", "auto") + "] engine=[" + opt("engine", "auto") + "] via=[" + opt("via", "auto") + "] on_error=[return]";
	cli = opt("cli", "");
	if (cli != "") pass = pass + " cli=[" + cli + "]";
	wasBatch = is("Batch Mode");
	setBatchMode(true);
	files = getFileList(input);
	restored = 0; failed = 0; skipped = 0; failures = "";
	t0 = getTime();
	for (i = 0; i < files.length; i++) {
		name = files[i];
		l = toLowerCase(name);
		if (!(endsWith(l, ".tif") || endsWith(l, ".tiff"))) { skipped++; continue; }
		base = substring(name, 0, lastIndexOf(name, "."));
		target = output + base + "-CARE.tif";
		problem = "";
		if (File.exists(target) && !overwrite) problem = "result " + target + " exists; pass overwrite=[true] to replace it";
		before = nImages;
		if (problem == "") {
			open(input + name);
			if (nImages == before) problem = "ImageJ cannot open it (not a readable TIFF)";
		}
		if (problem == "") {
			id = getImageID();
			reply = runMacro(restoreMacro, pass);
			if (reply == "[aborted]") problem = "the restore macro stopped";
			else if (startsWith(reply, "error:")) problem = substring(reply, 7);
			else {
				image = parseInt(call("ij.Macro.getValue", reply, "image", "0"));
				scale = parseInt(call("ij.Macro.getValue", reply, "scale", "0"));
				selectImage(image);
				saveAs("Tiff", target);
				close();
				if (scale != 0) {
					selectImage(scale);
					saveAs("Tiff", output + base + "-CARE-scale.tif");
					close();
				}
			}
			selectImage(id);
			close();
		}
		if (problem == "") {
			restored++;
			print("CARE Restore Folder: " + name + " -> " + base + "-CARE.tif");
		} else {
			failed++;
			failures = failures + " " + name;
			print("CARE Restore Folder: FAILED " + name + ": " + problem);
		}
	}
	setBatchMode(wasBatch);
	summary = "restored=" + restored + " failed=" + failed + " skipped_not_tiff=" + skipped;
	print("CARE Restore Folder: " + summary + " in " + d2s((getTime() - t0) / 1000, 1) + " s; results in " + output);
	if (failed > 0) print("CARE Restore Folder: failed files:" + failures);
	return summary;
}

function findRestoreMacro() {
	here = getInfo("macro.filepath");
	given = opt("macros", "");
	cands = newArray(4);
	cands[0] = "";
	if (given != "") cands[0] = given + File.separator + "CARE_Restore.ijm";
	cands[1] = "";
	if (here != "" && here != "null") cands[1] = File.getParent(here) + File.separator + "CARE_Restore.ijm";
	cands[2] = getDirectory("imagej") + "scripts" + File.separator + "Plugins" + File.separator + "CARE" + File.separator + "CARE_Restore.ijm";
	cands[3] = getDirectory("macros") + "CARE_Restore.ijm";
	for (i = 0; i < cands.length; i++)
		if (cands[i] != "" && File.exists(cands[i])) return cands[i];
	exit("CARE Restore Folder: CARE_Restore.ijm not found beside this macro; keep both files together or pass macros=[/folder/with/CARE_Restore.ijm]");
}

function folder(path) {
	if (path == "") return "/";
	if (!endsWith(path, File.separator)) path = path + File.separator;
	return path;
}

function askOptions() {
	input = getDirectory("CARE Restore Folder: input folder (TIFFs)");
	output = getDirectory("CARE Restore Folder: output folder");
	bundle = File.openDialog("CARE Restore Folder: choose a CARE bundle (.zip)");
	return "input=[" + input + "] output=[" + output + "] bundle=[" + bundle + "]";
}

function opt(key, dflt) {
	return call("ij.Macro.getValue", ARGS, key, dflt);
}
