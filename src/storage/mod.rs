pub mod logdev;
