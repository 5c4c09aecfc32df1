// CARE Model Info — print what a CARE bundle is (task, axes, sizes, halo, normalization, weights, provenance).
//
// Options: bundle=[/path/model.zip]; via=[auto] (hosted, standalone); standalone also cli=[/path/to/care-bridge]
// (remembered). Both paths print the text of `care-bridge inspect` (care_bridge.frontend.describe_bundle_text),
// after the bundle has been opened and checked. Returns the printed text.

var ARGS = "";

ARGS = getArgument();
if (ARGS == "") ARGS = "bundle=[" + File.openDialog("CARE Model Info: choose a CARE bundle (.zip)") + "]";
bundle = opt("bundle", "");
if (bundle == "" || !File.exists(bundle))
	exit("CARE Model Info: bundle '" + bundle + "' does not exist; pass bundle=[/path/to/model.zip]");
hosted = false;
if (call("java.lang.System.getProperty", "care_bridge.hosted") == "1") hosted = true;
via = opt("via", "auto");
if (via == "hosted" || (via == "auto" && hosted)) {
	token = d2s(getTime(), 0) + "_" + d2s(floor(random * 1e9), 0);
	run("CARE Bridge", "op=info reply=[" + token + "] bundle=[" + bundle + "]");
	key = "care_bridge.reply." + token;
	reply = call("java.lang.System.getProperty", key);
	call("java.lang.System.clearProperty", key);
	if (!startsWith(reply, "ok:")) exit("CARE Model Info: " + substring(reply, 6));
	text = substring(reply, 3);
} else {
	cli = opt("cli", "");
	if (cli == "") cli = call("ij.Prefs.get", "care_bridge.cli", "care-bridge");
	else call("ij.Prefs.set", "care_bridge.cli", cli);
	text = exec(cli, "--report-to-stdout", "inspect", bundle);  // no shell: nothing in a path is interpreted
	if (indexOf(text, "care-bridge-exit=") < 0)
		exit("CARE Model Info: the care-bridge command line was not found at '" + cli + "'; install care_bridge and give its path once with cli=[/path/to/care-bridge]");
	if (indexOf(text, "care-bridge: error:") >= 0)
		exit("CARE Model Info: " + substring(text, indexOf(text, "care-bridge: error:") + 20));
	text = substring(text, 0, indexOf(text, "care-bridge-exit="));
	while (endsWith(text, "\n")) text = substring(text, 0, lengthOf(text) - 1);
}
print(text);
return text;

function opt(key, dflt) {
	return call("ij.Macro.getValue", ARGS, key, dflt);
}
