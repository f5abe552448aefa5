// The version string node-web shows; editing it is a process restart.
module.exports = { VERSION: "1.0.0" };
