// CARE Restore Folder — restore every TIFF of a folder into an output folder (care_bridge).
//
// Options: input=[/folder/in] output=[/folder/out] bundle=[/path/model.zip] and
//   n_tiles=[auto] memory_budget=[auto] axes=[] engine=[auto]  as for CARE Restore;
//   suffix=[]          added to each output name before .tif (default none: the input's own name);
//   overwrite=[false]  replace existing results;
//   planewise=[false] channels=[] dtype=[float32] precision=[fp32]  as for CARE Restore;
//   output_format=[auto]  auto (as each input: OME-TIFF gives OME-TIFF), imagej or ome-tiff;
//   readouts=[] level=[0.9] n_samples=[16]  reliability readouts beside each result, as for CARE Restore
//                      (<name><suffix>_std.tif, _disagreement.tif, _lower90.tif, _upper90.tif, _samples.tif/.gif);
//   via=[auto]         auto (hosted when Python hosts this ImageJ, else standalone), hosted, standalone;
//   cli=[...]          standalone only: the care-bridge command (remembered in ImageJ's preferences).
// This is the folder job of `care-bridge predict --input DIR --output OUT`, run by the same code on both paths
// (hosted: in-process; standalone: the command line itself): same names (<name><suffix>.tif, and
// <name><suffix>_scale.tif for probabilistic bundles), same calibration, files written atomically. A file that
// fails is logged and skipped; the others go on. Prints one line per file and a summary, and returns
// "restored=N failed=M".

var ARGS = "";

ARGS = getArgument();
if (ARGS == "") ARGS = askOptions();
summary = restoreFolder();
return summary;

function restoreFolder() {
	input = opt("input", "");
	output = opt("output", "");
	bundle = opt("bundle", "");
	if (input == "" || !File.isDirectory(input))
		exit("CARE Restore Folder: input folder '" + input + "' does not exist; pass input=[/path/to/folder]");
	if (output == "")
		exit("CARE Restore Folder: no output folder given; pass output=[/path/to/results]");
	if (!File.exists(bundle))
		exit("CARE Restore Folder: bundle '" + bundle + "' does not exist; pass bundle=[/path/to/model.zip]");
	hosted = false;
	if (call("java.lang.System.getProperty", "care_bridge.hosted") == "1") hosted = true;
	via = opt("via", "auto");
	if (via == "hosted" && !hosted)
		exit("CARE Restore Folder: via=hosted but this ImageJ is not hosted by Python; use via=standalone");
	t0 = getTime();
	if (via == "standalone" || (via == "auto" && !hosted)) text = folderStandalone(input, output, bundle);
	else text = folderHosted(input, output, bundle);
	lines = split(text, "\n");
	restored = 0; failed = 0;
	for (i = 0; i < lines.length; i++) {
		if (startsWith(lines[i], "FAILED ")) { failed++; print("CARE Restore Folder: " + lines[i]); }
		else if (indexOf(lines[i], " -> ") > 0) { restored++; print("CARE Restore Folder: " + lines[i]); }
	}
	summary = "restored=" + restored + " failed=" + failed;
	print("CARE Restore Folder: " + summary + " in " + d2s((getTime() - t0) / 1000, 1) + " s; results in " + output);
	return summary;
}

// Hosted: the bridge runs care_bridge.frontend.restore_files in-process.
function folderHosted(input, output, bundle) {
	token = d2s(getTime(), 0) + "_" + d2s(floor(random * 1e9), 0);
	run("CARE Bridge", "op=restore_folder reply=[" + token + "] input=[" + input + "] output=[" + output + "] bundle=[" + bundle + "] " + passOptions());
	key = "care_bridge.reply." + token;
	reply = call("java.lang.System.getProperty", key);
	call("java.lang.System.clearProperty", key);
	if (startsWith(reply, "error:")) exit("CARE Restore Folder: " + substring(reply, 6));
	if (!startsWith(reply, "ok:")) exit("CARE Restore Folder: the CARE bridge did not answer; use via=standalone");
	return substring(reply, 3);
}

// Standalone: care-bridge predict --input DIR --output OUT, whose lines are turned into the hosted path's.
function folderStandalone(input, output, bundle) {
	cli = opt("cli", "");
	if (cli == "") cli = call("ij.Prefs.get", "care_bridge.cli", "care-bridge");
	else call("ij.Prefs.set", "care_bridge.cli", cli);
	over = "--engine=" + opt("engine", "auto");
	if (toLowerCase(opt("overwrite", "false")) == "true") over = "--overwrite";
	// no shell (nothing in a path is interpreted, on Windows as elsewhere); errors and the exit code on stdout
	text = exec(cli, "--report-to-stdout", "predict", "--bundle", bundle, "--input", input, "--output", output,
		"--engine=" + opt("engine", "auto"), "--n-tiles=" + opt("n_tiles", "auto"),
		"--memory-budget=" + opt("memory_budget", "auto"), "--axes=" + opt("axes", ""),
		"--suffix=" + opt("suffix", ""), "--readouts=" + opt("readouts", ""), "--level=" + opt("level", "0.9"),
		"--n-samples=" + opt("n_samples", "16"), "--planewise=" + opt("planewise", "false"),
		"--channels=" + opt("channels", ""), "--output-format=" + opt("output_format", "auto"),
		"--dtype=" + opt("dtype", "float32"), "--precision=" + opt("precision", "fp32"), over);
	if (indexOf(text, "care-bridge-exit=") < 0)
		exit("CARE Restore Folder: the care-bridge command line was not found at '" + cli + "'; install care_bridge and give its path once with cli=[/path/to/care-bridge]");
	lines = split(text, "\n");
	out = "";
	for (i = 0; i < lines.length; i++) {
		l = lines[i];
		if (startsWith(l, "care-bridge: error: ")) {
			msg = substring(l, 20);
			c = indexOf(msg, ": ");
			if (indexOf(text, "care-bridge-exit=2") >= 0) exit("CARE Restore Folder: " + msg);
			out = out + "FAILED " + substring(msg, 0, c) + ": " + substring(msg, c + 2) + "\n";
		} else if (indexOf(l, " -> ") > 0) {
			a = substring(l, 0, indexOf(l, " -> "));
			b = substring(l, indexOf(l, " -> ") + 4);
			if (indexOf(b, "  [") > 0) b = substring(b, 0, indexOf(b, "  ["));
			if (indexOf(b, " (+ ") > 0) b = substring(b, 0, indexOf(b, " (+ "));
			out = out + File.getName(a) + " -> " + File.getName(b) + "\n";
		}
	}
	return out;
}

function passOptions() {
	keys = newArray("n_tiles", "memory_budget", "axes", "engine", "suffix", "overwrite", "readouts", "level", "n_samples",
		"planewise", "channels", "output_format", "dtype", "precision");
	s = "";
	for (i = 0; i < keys.length; i++) s = s + keys[i] + "=[" + opt(keys[i], "") + "] ";
	return s;
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
