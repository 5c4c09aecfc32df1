// CARE Model Info — print what a CARE bundle is (task, axes, sizes, normalization, provenance) to the Log.
//
// Options: bundle=[/path/model.zip]; standalone also cli=[/path/to/care-bridge] (remembered), via=[auto].
// Returns the printed text.

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
	call("java.lang.System.setProperty", "care_bridge.reply", "");
	run("CARE Bridge", "op=info bundle=[" + bundle + "] engine=[" + opt("engine", "auto") + "]");
	reply = call("java.lang.System.getProperty", "care_bridge.reply");
	if (!startsWith(reply, "ok:")) exit("CARE Model Info: " + substring(reply, 6));
	text = substring(reply, 3);
} else {
	cli = opt("cli", "");
	if (cli == "") cli = call("ij.Prefs.get", "care_bridge.cli", "care-bridge");
	else call("ij.Prefs.set", "care_bridge.cli", cli);
	if (File.separator == "/")
		text = exec("sh", "-c", "\"$0\" \"$@\" 2>&1; echo care-bridge-exit=$?", cli, "inspect", bundle);
	else
		text = exec("cmd", "/c", cli, "inspect", bundle, "2>&1");
	if (indexOf(text, "care-bridge-exit=127") >= 0)
		exit("CARE Model Info: the care-bridge command line was not found at '" + cli + "'; install care_bridge and give its path once with cli=[/path/to/care-bridge]");
	if (indexOf(text, "care-bridge: error:") >= 0)
		exit("CARE Model Info: " + substring(text, indexOf(text, "care-bridge: error:") + 20));
	text = replace(text, "care-bridge-exit=0\n", "");
}
print(text);
return text;

function opt(key, dflt) {
	return call("ij.Macro.getValue", ARGS, key, dflt);
}
