// CARE Restore — restore the current image with a CARE bundle (care_bridge).
//
// Options (ImageJ's key=[value] style; from another macro: runMacro(".../CARE_Restore.ijm", options)):
//   bundle=[/path/model.zip]    the bioimage.io bundle (zip or unpacked folder)             (required)
//   n_tiles=[auto]              auto, none, one number (4 = 2x2) or one per spatial axis (2,2  1,4,4  [2 2])
//   memory_budget=[auto]        working memory of the whole restoration (image, outputs, tiles), e.g. 2G
//   axes=[]                     axes of the image if not its ImageJ dimensions, e.g. TYX
//   engine=[auto]               auto, onnxruntime or tensorflow
//   via=[auto]                  auto (hosted when Python hosts this ImageJ, else standalone), hosted, standalone
//   cli=[/path/to/care-bridge]  standalone only; remembered in ImageJ's preferences (key care_bridge.cli)
//   title=[name]                title of the result (default: <input title without .tif>-CARE)
//   readouts=[]                 probabilistic/ensemble bundles: std, disagreement, interval, samples (comma-separated)
//   level=[0.9]                 level of the central interval (0.9, 95%)
//   n_samples=[16]              draws per pixel for the samples readout (a time series)
//   planewise=[false]           true: a 2D model on every Z plane of a stack
//   channels=[]                 a single-channel model on each of these channels, e.g. 0,2 (numbered from 0)
//   dtype=[float32]             float32, or input (the input's type, rounded and clipped)
//   precision=[fp32]            fp32, or the opt-in bf16 (OpenVINO on a CPU with bf16) / fp16 (a GPU)
//   on_error=[exit]             exit: stop with a message; return: give "error: ..." back to the calling macro
// Every option is parsed by care_bridge's front-end contract (care_bridge/frontend/options.py), the same code
// the command line and KNIME use, on both paths: hosted passes the text to Python, standalone to care-bridge.
// Result: a new image <title>-CARE (float32; calibration from the input and the mode's geometry, e.g. Z
// spacing / 4 after isotropic x4; Info kept) and, for probabilistic bundles, <title>-CARE-scale; each readout
// as <title>-CARE_<name> (std, disagreement, lower90, upper90, samples), calibrated like the result.
// Returns "image=<ID> scale=<ID or 0> readouts=[<ID>,...]" (IDs for selectImage). The input is not changed.

var ON_ERROR = "exit";
var ARGS = "";
// The options added since the first macros, passed as typed on both paths (the contract parses them).
var MORE_KEYS = newArray("planewise", "channels", "dtype", "precision");

ARGS = getArgument();
if (ARGS == "") ARGS = askOptions();
ON_ERROR = opt("on_error", "exit");
result = careRestore();
return result;

// ---------------------------------------------------------------------------------------------------------
function careRestore() {
	if (nImages == 0)
		{ r = fail("no image is open; open an image first (File > Open...)"); return r; }
	if (bitDepth() == 24)
		{ r = fail(getTitle() + " is an RGB image; convert it first (Image > Type > 16-bit, or Image > Color > Split Channels)"); return r; }
	bundle = opt("bundle", "");
	if (bundle == "")
		{ r = fail("no bundle given; pass bundle=[/path/to/model.zip]"); return r; }
	if (!File.exists(bundle))
		{ r = fail("bundle " + bundle + " does not exist; check the path given as bundle=[...]"); return r; }
	nTiles = opt("n_tiles", "auto");
	engine = opt("engine", "auto");
	budget = opt("memory_budget", "");
	axes = opt("axes", "");
	title = opt("title", "");
	readouts = opt("readouts", "");
	level = opt("level", "");
	nSamples = opt("n_samples", "");
	if (title == "") title = resultTitle(getTitle());
	hosted = false;
	if (call("java.lang.System.getProperty", "care_bridge.hosted") == "1") hosted = true;
	via = opt("via", "auto");
	if (via == "hosted" && !hosted)
		{ r = fail("via=hosted but this ImageJ is not hosted by Python; start it with care_bridge.fiji or use via=standalone"); return r; }
	if (via != "auto" && via != "hosted" && via != "standalone")
		{ r = fail("via=" + via + " is not understood; give auto, hosted or standalone"); return r; }
	if (via == "standalone" || (via == "auto" && !hosted))
		{ r = restoreStandalone(bundle, nTiles, engine, budget, axes, title, readouts, level, nSamples); return r; }
	{ r = restoreHosted(bundle, nTiles, engine, budget, axes, title, readouts, level, nSamples); return r; }
}

function moreHosted() {
	s = "";
	for (i = 0; i < MORE_KEYS.length; i++) s = s + " " + MORE_KEYS[i] + "=[" + opt(MORE_KEYS[i], "") + "]";
	return s;
}

// Hosted: Python runs this ImageJ; the "CARE Bridge" command is answered in-process (care_bridge/fiji/bridge.py).
function restoreHosted(bundle, nTiles, engine, budget, axes, title, readouts, level, nSamples) {
	id = getImageID();
	token = replyToken();
	run("CARE Bridge", "op=restore reply=[" + token + "] bundle=[" + bundle + "] n_tiles=[" + nTiles + "] engine=[" + engine + "] memory_budget=[" + budget + "] axes=[" + axes + "] title=[" + title + "] readouts=[" + readouts + "] level=[" + level + "] n_samples=[" + nSamples + "]" + moreHosted());
	reply = takeReply(token);
	if (startsWith(reply, "error:")) {
		selectImage(id);
		{ r = fail(substring(reply, 6)); return r; }
	}
	if (!startsWith(reply, "ok:"))
		{ r = fail("the CARE bridge did not answer; restart ImageJ through care_bridge.fiji or use via=standalone"); return r; }
	image = parseInt(field(reply, "image"));
	scale = parseInt(field(reply, "scale"));
	extra = field(reply, "readouts");
	if (extra == "0") extra = "";
	selectImage(image);
	return "image=" + image + " scale=" + scale + " readouts=[" + extra + "]";
}

// Standalone: temporary TIFFs and the care-bridge command line; the temporary folder is always removed.
function restoreStandalone(bundle, nTiles, engine, budget, axes, title, readouts, level, nSamples) {
	cli = opt("cli", "");
	if (cli == "") cli = call("ij.Prefs.get", "care_bridge.cli", "care-bridge");
	else call("ij.Prefs.set", "care_bridge.cli", cli);
	id = getImageID();
	frameInterval = Stack.getFrameInterval();
	info = getMetadata("Info");
	// a fresh, unguessable folder: a name that already exists (someone else's, perhaps a link planted in a shared
	// temporary folder) is never used
	tmp = "";
	for (attempt = 0; attempt < 20 && tmp == ""; attempt++) {
		name = getDirectory("temp") + "care_bridge_" + d2s(getTime(), 0) + "_" + d2s(floor(random * 1e9), 0) + d2s(floor(random * 1e9), 0) + File.separator;
		if (!File.exists(name)) {
			File.makeDirectory(name);
			if (File.isDirectory(name)) tmp = name;
		}
	}
	if (tmp == "")
		{ r = fail("cannot create a temporary folder in " + getDirectory("temp") + "; check free space and permissions"); return r; }
	input = tmp + "input.tif";
	output = tmp + "output.tif";
	wasBatch = is("Batch Mode");
	setBatchMode(true);
	run("Duplicate...", "title=care_bridge_input duplicate");
	saveAs("Tiff", input);
	close();
	setBatchMode(wasBatch);
	selectImage(id);
	cliOutput = runCli(cli, bundle, input, output, nTiles, engine, budget, axes, readouts, level, nSamples);
	if (!File.exists(output)) {
		removeFolder(tmp);
		{ r = fail(cliProblem(cliOutput, cli)); return r; }
	}
	open(output);
	image = getImageID();
	finishResult(title, frameInterval, info);
	scale = 0;
	scaleFile = tmp + "output_scale.tif";
	if (File.exists(scaleFile)) {
		open(scaleFile);
		scale = getImageID();
		finishResult(title + "-scale", frameInterval, info);
		selectImage(image);
	}
	// the readouts the command line wrote (output_<name>.tif), in the order the hosted path shows them
	extra = "";
	files = getFileList(tmp);
	kinds = newArray("std", "disagreement", "lower", "upper", "samples");
	for (k = 0; k < kinds.length; k++) {
		for (i = 0; i < files.length; i++) {
			f = files[i];
			if (startsWith(f, "output_" + kinds[k]) && endsWith(f, ".tif")) {
				open(tmp + f);
				name = substring(f, 7, lengthOf(f) - 4);
				if (name == "samples") finishResult(title + "_" + name, 0, info);
				else finishResult(title + "_" + name, frameInterval, info);
				if (extra != "") extra = extra + ",";
				extra = extra + getImageID();
			}
		}
	}
	selectImage(image);
	removeFolder(tmp);
	return "image=" + image + " scale=" + scale + " readouts=[" + extra + "]";
}

// The options go to care-bridge as typed (it parses them with the same contract as the hosted path).
function runCli(cli, bundle, input, output, nTiles, engine, budget, axes, readouts, level, nSamples) {
	n = 8;
	if (nTiles != "") n = n + 2;
	if (budget != "") n = n + 2;
	if (axes != "") n = n + 2;
	if (readouts != "") n = n + 1;
	if (level != "") n = n + 1;
	if (nSamples != "") n = n + 1;
	n = n + 1 + MORE_KEYS.length;
	a = newArray(n);
	a[0] = "predict"; a[1] = "--bundle"; a[2] = bundle; a[3] = "--input"; a[4] = input;
	a[5] = "--output"; a[6] = output; a[7] = "--engine=" + engine;
	k = 8;
	if (nTiles != "") { a[k] = "--n-tiles"; a[k + 1] = nTiles; k = k + 2; }
	if (budget != "") { a[k] = "--memory-budget"; a[k + 1] = budget; k = k + 2; }
	if (axes != "") { a[k] = "--axes"; a[k + 1] = axes; k = k + 2; }
	if (readouts != "") { a[k] = "--readouts=" + readouts; k = k + 1; }
	if (level != "") { a[k] = "--level=" + level; k = k + 1; }
	if (nSamples != "") { a[k] = "--n-samples=" + nSamples; k = k + 1; }
	a[k] = "--output-format=imagej"; k = k + 1;  // the temporary result is opened by ImageJ
	for (i = 0; i < MORE_KEYS.length; i++) {
		v = opt(MORE_KEYS[i], "");
		if (MORE_KEYS[i] == "planewise" && v == "") v = "false";
		if (MORE_KEYS[i] == "dtype" && v == "") v = "float32";
		if (MORE_KEYS[i] == "precision" && v == "") v = "fp32";
		a[k] = "--" + MORE_KEYS[i] + "=" + v; k = k + 1;
	}
	out = execCli(cli, a);  // assigned first: `return userFunction()` is read as a number by ImageJ's interpreter
	return out;
}

// Run cli with the arguments in array a, without any shell (nothing in a path is interpreted, on Windows as
// elsewhere); --report-to-stdout puts errors and the exit code (care-bridge-exit=N) on the standard output,
// the only stream ImageJ's exec() returns.
function execCli(cli, a) {
	r = "--report-to-stdout";
	if (a.length == 3) return exec(cli, r, a[0], a[1], a[2]);
	if (a.length == 4) return exec(cli, r, a[0], a[1], a[2], a[3]);
	if (a.length == 5) return exec(cli, r, a[0], a[1], a[2], a[3], a[4]);
	if (a.length == 6) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5]);
	if (a.length == 7) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6]);
	if (a.length == 8) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]);
	if (a.length == 9) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8]);
	if (a.length == 10) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9]);
	if (a.length == 11) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]);
	if (a.length == 12) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11]);
	if (a.length == 13) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12]);
	if (a.length == 14) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13]);
	if (a.length == 15) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14]);
	if (a.length == 16) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15]);
	if (a.length == 17) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16]);
	if (a.length == 18) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17]);
	if (a.length == 19) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18]);
	if (a.length == 20) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19]);
	if (a.length == 21) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20]);
	if (a.length == 22) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21]);
	if (a.length == 23) return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22]);
	return exec(cli, r, a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23]);
}

// Turn what the command line printed into one message that names the problem and the fix.
function cliProblem(text, cli) {
	if (indexOf(text, "care-bridge-exit=") < 0 && (indexOf(text, "Cannot run program") >= 0 || indexOf(text, "error=2") >= 0 || lengthOf(text) == 0))
		return "the care-bridge command line was not found at '" + cli + "'; install care_bridge (pip install care_bridge) and give its path once with cli=[/path/to/care-bridge]";
	lines = split(text, "\n");
	for (i = 0; i < lines.length; i++)
		if (indexOf(lines[i], "care-bridge: error:") >= 0)
			return substring(lines[i], indexOf(lines[i], "care-bridge: error:") + 20);
	last = "";
	for (i = 0; i < lines.length; i++)
		if (lengthOf(lines[i]) > 0 && !startsWith(lines[i], "care-bridge-exit=")) last = lines[i];
	return "care-bridge failed without a result (" + last + "); run it in a terminal to see the full error";
}

// The command line wrote the calibration (from the input and the mode's geometry); keep it, restore the title,
// the frame interval and the Info text of the input.
function finishResult(t, frameInterval, info) {
	rename(t);
	if (frameInterval > 0) Stack.setFrameInterval(frameInterval);
	if (info != "") setMetadata("Info", info);
	resetMinAndMax();
}

function removeFolder(dir) {
	files = getFileList(dir);
	for (i = 0; i < files.length; i++) ok = File.delete(dir + files[i]);
	ok = File.delete(dir);
}

// ---------------------------------------------------------------------------------------------------------
function askOptions() {
	bundle = File.openDialog("CARE Restore: choose a CARE bundle (.zip)");
	Dialog.create("CARE Restore");
	Dialog.addString("n_tiles", "auto");
	Dialog.addChoice("engine", newArray("auto", "onnxruntime", "tensorflow"));
	Dialog.addChoice("via", newArray("auto", "hosted", "standalone"));
	Dialog.show();
	return "bundle=[" + bundle + "] n_tiles=[" + Dialog.getString() + "] engine=[" + Dialog.getChoice() + "] via=[" + Dialog.getChoice() + "]";
}

// A fresh token per bridge call: the reply comes back in its own system property, so concurrent macros
// never read each other's reply.
function replyToken() {
	return d2s(getTime(), 0) + "_" + d2s(floor(random * 1e9), 0);
}

function takeReply(token) {
	key = "care_bridge.reply." + token;
	reply = call("java.lang.System.getProperty", key);
	call("java.lang.System.clearProperty", key);
	return reply;
}

function opt(key, dflt) {
	return call("ij.Macro.getValue", ARGS, key, dflt);
}

function field(reply, key) {
	return call("ij.Macro.getValue", substring(reply, 3), key, "0");
}

function resultTitle(t) {
	l = toLowerCase(t);
	exts = newArray(".ome.tiff", ".ome.tif", ".tiff", ".tif");
	for (i = 0; i < exts.length; i++)
		if (endsWith(l, exts[i])) return substring(t, 0, lengthOf(t) - lengthOf(exts[i])) + "-CARE";
	return t + "-CARE";
}

function fail(message) {
	call("java.lang.System.setProperty", "care_bridge.last_error", "CARE Restore: " + message);
	if (ON_ERROR == "return") return "error: " + message;
	exit("CARE Restore: " + message);
}
