// Test driver: open a TIFF, run a CARE macro on it like a user's macro would, save what it made with ImageJ.
// Options: in=[] out=[] restore=[CARE_Restore.ijm path] and pass-through keys bundle n_tiles engine via cli,
// and, when given, planewise channels dtype memory_budget axes.
var args = getArgument();
function o(k, d) { return call("ij.Macro.getValue", args, k, d); }
setBatchMode(true);
open(o("in", ""));
title = getTitle();
id = getImageID();
getVoxelSize(pw, ph, pd, unit);
pass = "bundle=[" + o("bundle", "") + "] n_tiles=[" + o("n_tiles", "auto") + "] engine=[" + o("engine", "auto") + "] via=[" + o("via", "auto") + "] on_error=[" + o("on_error", "exit") + "]";
cli = o("cli", "");
if (cli != "") pass = pass + " cli=[" + cli + "]";
more = newArray("planewise", "channels", "dtype", "memory_budget", "axes");
for (m = 0; m < more.length; m++) {
	v = o(more[m], "");
	if (v != "") pass = pass + " " + more[m] + "=[" + v + "]";
}
noImage = o("no_image", "");
if (noImage == "1") close();
n0 = nImages;
reply = runMacro(o("restore", ""), pass);
print("REPLY " + reply);
if (startsWith(reply, "image=")) {
	image = parseInt(call("ij.Macro.getValue", reply, "image", "0"));
	scale = parseInt(call("ij.Macro.getValue", reply, "scale", "0"));
	selectImage(image);
	getVoxelSize(rpw, rph, rpd, runit);
	print("RESULT title=[" + getTitle() + "] bitdepth=" + bitDepth() + " voxel=" + rpw + "," + rph + "," + rpd + " unit=" + runit + " info=[" + getMetadata("Info") + "]");
	saveAs("Tiff", o("out", ""));
	if (scale != 0) {
		selectImage(scale);
		print("SCALE title=[" + getTitle() + "]");
		saveAs("Tiff", replace(o("out", ""), ".tif", "_scale.tif"));
	}
}
if (noImage == "1") {
	print("INPUT none images_before=" + n0 + " images_after=" + nImages);
} else {
	selectImage(id);
	print("INPUT title=[" + getTitle() + "] images_before=" + n0 + " images_after=" + nImages);
}

// free memory when a host process runs this driver repeatedly
while (nImages > 0) { selectImage(nImages); close(); }
return reply;
